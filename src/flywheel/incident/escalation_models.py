"""Tables of escalation and notification: policies, running escalations, contacts, deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, utcnow
from flywheel.vault.types import encrypted


class EscalationPolicy(Base):
    """Who is paged for a service's incidents, step after step, and how often it repeats."""

    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    services: Mapped[list[str]] = mapped_column(default=list)
    is_default: Mapped[bool] = mapped_column(default=False)
    repeat: Mapped[int] = mapped_column(default=0)
    steps: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Escalation(Base):
    """The paging of one incident: where it is in its policy and when it next acts."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(16))
    policy_key: Mapped[str | None] = mapped_column(String(64))
    round: Mapped[int] = mapped_column(default=0)
    step: Mapped[int] = mapped_column(default=0)
    fired: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[datetime | None]
    notified: Mapped[list[str]] = mapped_column(default=list)
    last_event_id: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_escalations_due", "state", "next_at"),)


class ContactMethod(Base):
    """Where a user or a team is reached: an e-mail address, a Slack or JSON webhook."""

    __tablename__ = "contact_methods"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(8))
    owner: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(1000))
    label: Mapped[str] = mapped_column(String(100), default="")
    secret: Mapped[str | None] = mapped_column(encrypted("contact_methods", "secret"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (
        UniqueConstraint("owner_kind", "owner", "channel", "address", name="uq_contact_methods"),
        Index("ix_contact_methods_owner", "owner_kind", "owner"),
    )


class NotificationDelivery(Base):
    """One message to one contact method, with its attempts and the next retry."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    event: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(100))
    recipient_kind: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(1000))
    contact_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_methods.id", ondelete="SET NULL")
    )
    message: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_notification_deliveries_due", "status", "next_attempt_at"),)
