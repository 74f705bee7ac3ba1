"""Tables of the incident domain: integrations, alerts, incidents and their timelines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, JSONType, utcnow
from flywheel.vault.types import encrypted

BigId = BigInteger().with_variant(Integer, "sqlite")


class AlertIntegration(Base):
    """A monitoring system allowed to send alerts, with its own token and CI mapping rules."""

    __tablename__ = "alert_integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    ci_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    signing_secret: Mapped[str | None] = mapped_column(
        encrypted("alert_integrations", "signing_secret")
    )
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def signed(self) -> bool:
        """Whether its webhooks must carry an HMAC signature."""
        return self.signing_secret is not None

    @property
    def source(self) -> str:
        """The source name its alerts are stored under."""
        return f"integration:{self.name}"


class Incident(Base):
    """Something is broken for someone: grouped alerts (or an imported record) and its response."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[int] = mapped_column(index=True)
    urgency: Mapped[int]
    impact_level: Mapped[int]
    impact: Mapped[dict[str, Any] | None]
    service: Mapped[str] = mapped_column(String(200), index=True)
    service_known: Mapped[bool] = mapped_column(default=False)
    ci_keys: Mapped[list[str]] = mapped_column(default=list)
    opened_at: Mapped[datetime] = mapped_column(index=True)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    reopen_count: Mapped[int] = mapped_column(default=0)
    flapping: Mapped[bool] = mapped_column(default=False)
    alert_count: Mapped[int] = mapped_column(default=0)
    firing_count: Mapped[int] = mapped_column(default=0)
    last_alert_at: Mapped[datetime | None]
    last_fingerprint: Mapped[str | None] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(32), default="alerts")
    external_id: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(100))
    assignment_group: Mapped[str | None] = mapped_column(String(100))
    ci_text: Mapped[str | None] = mapped_column(String(200))
    sla_met: Mapped[bool | None]
    details: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_incidents_source_external_id"),
    )

    @property
    def number(self) -> str:
        """The human-facing incident number."""
        return f"INC{self.id:07d}"


class Alert(Base):
    """One alert, deduplicated by (source, fingerprint): every re-send updates this row."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    alertname: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String(500), default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ci_key: Mapped[str | None] = mapped_column(String(200), index=True)
    ci_unknown: Mapped[bool] = mapped_column(default=False)
    group_key: Mapped[str] = mapped_column(String(200))
    flags: Mapped[list[str]] = mapped_column(default=list)
    generator_url: Mapped[str | None] = mapped_column(String(1000))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    received: Mapped[int] = mapped_column(default=1)
    flips: Mapped[int] = mapped_column(default=0)
    flip_window_start: Mapped[datetime | None]
    digest: Mapped[str] = mapped_column(String(40), default="")
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )

    # Re-sends rewrite last_seen and received many times: room in each page keeps those
    # updates HOT on PostgreSQL (no new index entries, no index bloat).
    __table_args__ = (
        # Fingerprint first: `fingerprint = ANY(...)` is then always an index condition,
        # even in a generic plan made while the table was small.
        UniqueConstraint("fingerprint", "source", name="uq_alerts_fingerprint"),
        {"postgresql_with": {"fillfactor": 50}},
    )


class IncidentHead(Base):
    """The newest incident of a service: the row alert intake locks to decide group or open."""

    __tablename__ = "incident_heads"
    __table_args__ = ({"postgresql_with": {"fillfactor": 50}},)

    service: Mapped[str] = mapped_column(String(200), primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))


class IncidentEvent(Base):
    """One entry of an incident's timeline; `kind` is an open vocabulary."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None]

    __table_args__ = (Index("ix_incident_events_incident", "incident_id", "id"),)


class IncidentLink(Base):
    """Something an incident is linked to: a change now; problems and suspects later."""

    __tablename__ = "incident_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(200), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (UniqueConstraint("incident_id", "kind", "ref", name="uq_incident_links_ref"),)
