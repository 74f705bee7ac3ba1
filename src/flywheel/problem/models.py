"""Tables of the problem domain: problems, their incidents, fixes, known errors, deliveries."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, utcnow


class Problem(Base):
    """The unknown (then known) cause of one or more incidents, and its way to a fix."""

    __tablename__ = "problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), index=True)
    service: Mapped[str] = mapped_column(String(200), index=True)
    ci_keys: Mapped[list[str]] = mapped_column(default=list)
    signature: Mapped[str | None] = mapped_column(String(400), index=True)
    owner: Mapped[str | None] = mapped_column(String(100))
    category: Mapped[str | None] = mapped_column(String(40))
    root_cause: Mapped[str] = mapped_column(Text, default="")
    five_whys: Mapped[list[str]] = mapped_column(default=list)
    contributing_factors: Mapped[list[str]] = mapped_column(default=list)
    changes_involved: Mapped[list[str]] = mapped_column(default=list)
    root_cause_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(20))
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(default=0)
    last_recurrence_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def number(self) -> str:
        """The human-facing problem number."""
        return f"PRB{self.id:07d}"


class ProblemIncident(Base):
    """An incident caused by a problem; an incident belongs to at most one problem."""

    __tablename__ = "problem_incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problems.id", ondelete="CASCADE"), index=True
    )
    incident_id: Mapped[int] = mapped_column(unique=True)
    reason: Mapped[str] = mapped_column(String(20))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    linked_by: Mapped[str] = mapped_column(String(100))


class ProblemEvent(Base):
    """One entry of a problem's own history (state moves, rca, routing, recurrence)."""

    __tablename__ = "problem_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problems.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None]


class ProblemSuggestion(Base):
    """Recurring incidents that may be one problem, waiting for someone to accept or dismiss."""

    __tablename__ = "problem_suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    basis: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(400))
    incident_ids: Mapped[list[int]] = mapped_column(default=list)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), index=True, default="open")
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id", ondelete="SET NULL"))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProblemFix(Base):
    """The follow-up a problem routed its fix to: backlog item, change request or task."""

    __tablename__ = "problem_fixes"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problems.id", ondelete="CASCADE"), index=True
    )
    route: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default="open")
    title: Mapped[str] = mapped_column(String(300))
    tracker: Mapped[str | None] = mapped_column(String(64))
    change_number: Mapped[str | None] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(100))
    due_date: Mapped[date | None]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    done_at: Mapped[datetime | None]


class ProblemChange(Base):
    """A change that carries (part of) a problem's fix, found by its reference to the problem."""

    __tablename__ = "problem_changes"
    __table_args__ = (UniqueConstraint("problem_id", "change_id", name="uq_problem_changes_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problems.id", ondelete="CASCADE"), index=True
    )
    change_id: Mapped[int]
    change_number: Mapped[str] = mapped_column(String(20))
    found_in: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default="open")
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class Tracker(Base):
    """A team's issue tracker that backlog items are sent to (GitHub- or Jira-shaped webhook)."""

    __tablename__ = "problem_trackers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(1000))
    project: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class Delivery(Base):
    """One outgoing webhook (outbox row): sent by the worker, retried with backoff."""

    __tablename__ = "problem_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(
        ForeignKey("problems.id", ondelete="CASCADE"), index=True
    )
    fix_id: Mapped[int] = mapped_column(ForeignKey("problem_fixes.id", ondelete="CASCADE"))
    tracker: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(1000))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnownError(Base):
    """A problem's known error: a signature to recognise new incidents by, and the workaround."""

    __tablename__ = "known_errors"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(300))
    service: Mapped[str | None] = mapped_column(String(200), index=True)
    ci: Mapped[str | None] = mapped_column(String(200))
    signature: Mapped[str | None] = mapped_column(String(400))
    text: Mapped[str | None] = mapped_column(String(400))
    workaround: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    superseded_by: Mapped[int | None] = mapped_column(
        ForeignKey("known_errors.id", ondelete="SET NULL")
    )
    matched_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def number(self) -> str:
        """The human-facing known-error number."""
        return f"KE{self.id:07d}"
