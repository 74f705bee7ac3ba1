"""Tables of Flywheel's own HTTP probes: what to check on a CI, and each run's outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")


class Probe(Base):
    """An HTTP check of a configuration item, run every `interval_s` seconds."""

    __tablename__ = "probes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    ci_key: Mapped[str] = mapped_column(String(200), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    method: Mapped[str] = mapped_column(String(8), default="GET")
    interval_s: Mapped[int] = mapped_column(default=60)
    timeout_s: Mapped[float] = mapped_column(Float, default=5.0)
    expected_status: Mapped[str] = mapped_column(String(100), default="200-399")
    body_contains: Mapped[str | None] = mapped_column(String(500))
    enabled: Mapped[bool] = mapped_column(default=True)
    failures_to_alert: Mapped[int] = mapped_column(default=1)
    severity: Mapped[str] = mapped_column(String(32), default="critical")
    # Scheduling and alert state, written by the runner with plain UPDATEs (no version bump):
    # a claim moves next_run_at forward only if it still holds the value the claimer read.
    next_run_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    alerting: Mapped[bool] = mapped_column(default=False)
    last_run_at: Mapped[datetime | None]
    last_ok: Mapped[bool | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class ProbeRun(Base):
    """One run of a probe, kept compact: when, whether it passed, status, latency, error."""

    __tablename__ = "probe_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    probe_id: Mapped[int] = mapped_column(ForeignKey("probes.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    ok: Mapped[bool]
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_probe_results_probe_at", "probe_id", "at"),)
