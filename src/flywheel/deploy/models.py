"""Tables of the deploy domain: deployment runs, their steps, and the one-run-per-pool lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, utcnow


class Deployment(Base):
    """One rolling bounce of a pool to a version: its plan, state, outcome and evidence."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(200), index=True)
    pool: Mapped[str] = mapped_column(String(200), index=True)
    environment: Mapped[str] = mapped_column(String(32), default="production")
    version_label: Mapped[str] = mapped_column(String(200))
    previous_version: Mapped[str | None] = mapped_column(String(200))
    change_id: Mapped[int | None] = mapped_column(index=True)
    release_id: Mapped[int | None] = mapped_column(index=True)
    rollback_of: Mapped[int | None]
    workflow_id: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    control: Mapped[str | None] = mapped_column(String(16))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    drivers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    gates: Mapped[list[Any]] = mapped_column(default=list)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_by_user_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
    # Delivery reports read runs by finish time, for all services or one (issue 9).
    __table_args__ = (
        Index("ix_deployments_delivery", "environment", "finished_at"),
        Index("ix_deployments_service_delivery", "service", "environment", "finished_at"),
    )


class DeploymentStep(Base):
    """One action of a run on one batch (drain, stop, start, …), as it happened."""

    __tablename__ = "deployment_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    seq: Mapped[int]
    phase: Mapped[str] = mapped_column(String(16))
    batch: Mapped[int]
    action: Mapped[str] = mapped_column(String(32))
    instances: Mapped[list[str]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("deployment_id", "seq", name="uq_deployment_steps_seq"),
        Index("ix_deployment_steps_deployment", "deployment_id", "seq"),
        # A run's milestones (last batch enabled, last bake passed) without reading its rows.
        Index(
            "ix_deployment_steps_milestone",
            "deployment_id",
            "action",
            "phase",
            "state",
            "finished_at",
        ),
    )


class PoolLock(Base):
    """The pool a run holds: its primary key makes a second concurrent run impossible."""

    __tablename__ = "deployment_pool_locks"

    pool: Mapped[str] = mapped_column(String(200), primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
