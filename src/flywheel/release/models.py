"""Tables of the release domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, utcnow


class Environment(Base):
    """A stage a release passes through, in order (staging before production)."""

    __tablename__ = "environments"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    rank: Mapped[int] = mapped_column(unique=True)
    bake_s: Mapped[int] = mapped_column(default=0)
    requires_change: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Release(Base):
    """A version of a service, with the artifact and the changes it carries."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(200), index=True)
    version_label: Mapped[str] = mapped_column(String(200))
    artifact: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str] = mapped_column(Text, default="")
    change_ids: Mapped[list[int]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("service", "version_label", name="uq_releases_version"),)
