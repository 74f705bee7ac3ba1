"""Request and response models of the risk domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from flywheel.schemas import RequestModel, ResponseModel


class ScoreRequest(RequestModel):
    """A change's code metrics (Kamei et al.) and what else is known about it."""

    metrics: dict[str, float] = Field(default_factory=dict, max_length=50)
    change_type: str = Field(default="normal", pattern="^(standard|normal|emergency)$")
    service_criticality: int | None = Field(default=None, ge=1, le=4)
    tenants_affected: int | None = Field(default=None, ge=0)


class ScoreOut(ResponseModel):
    """A risk score with its level, explanation and the model that gave it."""

    score: float
    level: str
    explanation: list[dict[str, Any]]
    model_version: str


class TrainRequest(RequestModel):
    """Retrain on Flywheel's own finished changes over a recent window."""

    months: int = Field(default=12, ge=1, le=120, description="Older changes are left out")


class RiskModelOut(ResponseModel):
    """A stored model."""

    version: str
    status: str
    source: str
    metadata: dict[str, Any] = Field(validation_alias="model_metadata")
    created_at: datetime
    created_by: str
    promoted_at: datetime | None
