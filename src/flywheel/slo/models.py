"""Tables of the SLO domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, utcnow


class ServiceLevelObjective(Base):
    """A service's availability objective (and optional latency objective) over a window."""

    __tablename__ = "slos"

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    objective: Mapped[float]
    latency_threshold_ms: Mapped[float | None]
    latency_objective: Mapped[float | None]
    source: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    slice_seconds: Mapped[int] = mapped_column(default=60)
    window_kind: Mapped[str] = mapped_column(String(16))
    window_days: Mapped[int | None]
    prometheus: Mapped[dict[str, Any] | None]
    alert_rules: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (UniqueConstraint("service", "name", name="uq_slos_service_name"),)
