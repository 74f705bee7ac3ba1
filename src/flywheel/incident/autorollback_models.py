"""Tables of automatic rollback: per-service policies and every decision taken."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, JSONType, utcnow


class AutoRollbackPolicy(Base):
    """When Flywheel may roll back a service's top suspect deployment on its own."""

    __tablename__ = "autorollback_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(200), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    min_score: Mapped[float] = mapped_column(Float, default=0.6)
    window_minutes: Mapped[int] = mapped_column(default=30)
    environments: Mapped[list[str]] = mapped_column(JSONType, default=list)
    max_distance: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


ROLLED_BACK = "rolled_back"
DECLINED = "declined"


class AutoRollbackDecision(Base):
    """What the policy decided about an incident's top suspect, once per pair."""

    __tablename__ = "autorollback_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(index=True)
    deployment_id: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(16))
    rollback_id: Mapped[int | None]
    reason: Mapped[str] = mapped_column(Text)
    policy: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("incident_id", "deployment_id"),
        # Never twice for the same deployment, even from two incidents at once.
        Index(
            "ux_autorollback_decisions_rolled_back",
            "deployment_id",
            unique=True,
            postgresql_where=text("outcome = 'rolled_back'"),
            sqlite_where=text("outcome = 'rolled_back'"),
        ),
    )
