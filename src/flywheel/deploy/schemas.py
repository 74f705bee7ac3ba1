"""Request and response models of the deploy domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from flywheel.cmdb.schemas import CIKey
from flywheel.schemas import RequestModel, ResponseModel


class RolloutSettings(RequestModel):
    """How a rolling bounce proceeds and when it is judged unhealthy."""

    batch_size: int | None = Field(default=None, ge=1, le=10_000)
    max_unavailable: int | str | None = Field(
        default=None, description="A count or a percentage such as '25%'"
    )
    max_surge: int = Field(
        default=0, ge=0, le=0, description="Surge needs a target that adds instances; none does yet"
    )
    drain_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    stop_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    health_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    bake_s: float = Field(default=10.0, ge=0, le=86_400)
    poll_s: float = Field(default=0.1, gt=0, le=10)
    max_error_rate: float = Field(
        default=0.02, ge=0, le=1, description="Error rate of new instances that fails a batch"
    )
    min_requests: int = Field(
        default=20, ge=0, description="Requests a batch must serve before its error rate is judged"
    )
    auto_rollback: bool = True


class GateOverride(RequestModel):
    """Go ahead although a gate fails: allowed roles only, always with a reason."""

    reason: str = Field(min_length=3, max_length=2000)


class DeploymentCreate(RequestModel):
    """Roll a pool (or a service's pool) to a version."""

    service: CIKey | None = None
    pool: CIKey | None = None
    version: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+:@/-]*$")
    environment: str = Field(default="production", min_length=1, max_length=32)
    change_id: int | None = Field(default=None, ge=1)
    release_id: int | None = Field(default=None, ge=1)
    settings: RolloutSettings = Field(default_factory=RolloutSettings)
    override_gates: GateOverride | None = None

    @model_validator(mode="after")
    def _needs_target(self) -> DeploymentCreate:
        if self.service is None and self.pool is None:
            raise ValueError("name the pool to deploy (or its service)")
        return self


class ControlRequest(RequestModel):
    """Pause, resume, abort or roll back a run, saying why."""

    reason: str = Field(default="", max_length=2000)
    override_gates: bool = Field(
        default=False, description="Resume past a failing gate (allowed roles)"
    )


class StepOut(ResponseModel):
    """One action of a run."""

    seq: int
    phase: str
    batch: int
    action: str
    instances: list[str]
    state: str
    detail: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None


class DeploymentOut(ResponseModel):
    """A deployment run."""

    id: int
    service: str
    pool: str
    environment: str
    version: str = Field(validation_alias="version_label")
    previous_version: str | None
    change_id: int | None
    release_id: int | None
    rollback_of: int | None
    state: str
    control: str | None
    status_reason: str
    settings: dict[str, Any]
    plan: dict[str, Any]
    gates: list[Any]
    evidence: dict[str, Any]
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    row_version: int = Field(validation_alias="version")


class DeploymentDetailOut(DeploymentOut):
    """A deployment run with its steps."""

    steps: list[StepOut] = Field(default_factory=list)
