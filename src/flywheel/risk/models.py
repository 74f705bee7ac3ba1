"""Tables of the risk domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, utcnow


class RiskModel(Base):
    """A trained change-risk model: its bytes, metrics and whether it is in service."""

    __tablename__ = "risk_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(300))
    model_metadata: Mapped[dict[str, Any]] = mapped_column("metadata")
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    promoted_at: Mapped[datetime | None]
