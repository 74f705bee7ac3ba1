"""Tables of the change domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flywheel.db import Base, utcnow

# The states in which a change can conflict with another. Written out as SQL, not bound, so
# that a query carrying this very condition can use the partial index below.
ACTIVE_STATE_VALUES = ("authorize", "scheduled", "implement")
ACTIVE_CONDITION = "state IN ('authorize', 'scheduled', 'implement')"


class ChangeRequest(Base):
    """A change request: what is changed, why, how risky, and what was decided."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    service: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    implementation_plan: Mapped[str] = mapped_column(Text, default="")
    backout_plan: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_by_user_id: Mapped[int | None]
    assigned_team: Mapped[str | None] = mapped_column(String(64))
    planned_start: Mapped[datetime | None] = mapped_column(index=True)
    planned_end: Mapped[datetime | None]
    actual_start: Mapped[datetime | None]
    actual_end: Mapped[datetime | None]
    version_label: Mapped[str | None] = mapped_column(String(200))
    artifact: Mapped[str | None] = mapped_column(String(500))
    external_id: Mapped[str | None] = mapped_column(String(200))
    receipt: Mapped[bool] = mapped_column(default=False)
    test_results: Mapped[dict[str, Any] | None]
    code_metrics: Mapped[dict[str, Any] | None]
    risk_score: Mapped[float | None]
    risk_level: Mapped[str | None] = mapped_column(String(16))
    risk_explanation: Mapped[dict[str, Any] | None]
    risk_model_version: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[dict[str, Any] | None]
    close_code: Mapped[str | None] = mapped_column(String(32))
    close_notes: Mapped[str | None] = mapped_column(Text)
    links: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    version: Mapped[int] = mapped_column(default=1)

    cis: Mapped[list[ChangeCI]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ChangeCI.ci_key"
    )
    commits: Mapped[list[ChangeCommit]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ChangeCommit.position"
    )
    approvals: Mapped[list[ChangeApproval]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ChangeApproval.id"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("service", "external_id", name="uq_changes_service_external_id"),
        # Changes still in flight from before a report's period (issue 9).
        Index("ix_changes_state_created", "state", "created_at"),
        # Conflict candidates: a service's active changes newest first, however long its history.
        Index(
            "ix_changes_active_service",
            "service",
            "id",
            postgresql_where=text(ACTIVE_CONDITION),
            sqlite_where=text(ACTIVE_CONDITION),
        ),
    )

    @property
    def number(self) -> str:
        """The human-facing change number."""
        return f"CHG{self.id:07d}"

    @property
    def ci_keys(self) -> list[str]:
        """Keys of the CIs the change touches."""
        return [c.ci_key for c in self.cis]


class ChangeCI(Base):
    """A configuration item a change touches."""

    __tablename__ = "change_cis"

    change_id: Mapped[int] = mapped_column(
        ForeignKey("changes.id", ondelete="CASCADE"), primary_key=True
    )
    ci_key: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class ChangeCommit(Base):
    """A commit a change carries."""

    __tablename__ = "change_commits"

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    sha: Mapped[str] = mapped_column(String(64))
    author: Mapped[str | None] = mapped_column(String(200))
    authored_at: Mapped[datetime | None]
    message: Mapped[str | None] = mapped_column(Text)

    # Lead times read each change's commit times from the index alone (issue 9).
    __table_args__ = (Index("ix_change_commits_authored", "change_id", "authored_at"),)


class ChangeApproval(Base):
    """One person's approval (or rejection) of a change."""

    __tablename__ = "change_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"))
    user_id: Mapped[int]
    username: Mapped[str] = mapped_column(String(100))
    verdict: Mapped[str] = mapped_column(String(16))
    as_role: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("change_id", "user_id", name="uq_change_approvals_person"),)


class ChangeTransition(Base):
    """One step of a change's lifecycle: its timeline."""

    __tablename__ = "change_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_change_transitions_change", "change_id", "id"),
        Index("ix_change_transitions_reached", "change_id", "to_state", "at"),
    )


class ChangePolicy(Base):
    """One version of a change policy (YAML) for a service, or '*' for the default."""

    __tablename__ = "change_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(200))
    version: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (UniqueConstraint("scope", "version", name="uq_change_policies_version"),)


class ChangeWindow(Base):
    """A blackout (freeze) or maintenance window, one-off or recurring."""

    __tablename__ = "change_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    scope_type: Mapped[str] = mapped_column(String(16))
    scope_key: Mapped[str | None] = mapped_column(String(200))
    include_dependents: Mapped[bool] = mapped_column(default=False)
    start: Mapped[datetime | None]
    end: Mapped[datetime | None]
    rrule: Mapped[str | None] = mapped_column(String(500))
    duration_minutes: Mapped[int | None]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    override_roles: Mapped[list[str]] = mapped_column(default=list)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)
