"""Request and response bodies of the automatic-rollback policy API."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from flywheel.schemas import RequestModel, ResponseModel


class PolicyIn(RequestModel):
    """A service's automatic-rollback policy (send `version` to replace an existing one)."""

    enabled: bool = True
    min_score: float = Field(default=0.6, ge=0, le=1)
    window_minutes: int = Field(default=30, ge=1, le=24 * 60)
    environments: list[str] = Field(
        default_factory=lambda: ["production"], min_length=1, max_length=20
    )
    max_distance: int = Field(default=1, ge=0, le=10)
    version: int | None = Field(
        default=None, ge=1, description="The version you read; required to replace, else 409."
    )


class PolicyOut(ResponseModel):
    """A stored policy."""

    service: str
    enabled: bool
    min_score: float
    window_minutes: int
    environments: list[str]
    max_distance: int
    created_by: str
    updated_at: datetime
    version: int


class EffectivePolicyOut(ResponseModel):
    """The policy that applies to a service, and where it comes from."""

    service: str
    enabled: bool
    min_score: float
    window_minutes: int
    environments: list[str]
    max_distance: int
    origin: str
    description: str


class DecisionOut(ResponseModel):
    """What the policy decided about one incident's top suspect."""

    incident_id: int
    deployment_id: int
    outcome: str
    rollback_id: int | None
    reason: str
    at: datetime
