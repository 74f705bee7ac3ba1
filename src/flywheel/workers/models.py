"""One row per Flywheel process that runs background work: its heartbeat and its recovery."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, utcnow


class WorkerProcess(Base):
    """A process by its executor id; a dead one's durable work is recovered by one live peer."""

    __tablename__ = "worker_processes"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    stopped_at: Mapped[datetime | None]
    recovered_by: Mapped[str | None] = mapped_column(String(200))
    recovered_at: Mapped[datetime | None]
