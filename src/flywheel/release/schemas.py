"""Request and response models of the release domain."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from flywheel.cmdb.schemas import CIKey
from flywheel.schemas import RequestModel, ResponseModel, Slug


class EnvironmentIn(RequestModel):
    """Where an environment sits in the promotion order and how long a release bakes there."""

    rank: int = Field(ge=0, le=1000)
    bake_s: int = Field(default=0, ge=0, le=30 * 86_400)
    requires_change: bool = False


class EnvironmentOut(ResponseModel):
    """An environment."""

    name: str
    rank: int
    bake_s: int
    requires_change: bool


class ReleaseCreate(RequestModel):
    """A version of a service ready to be promoted."""

    service: CIKey
    version: str = Field(min_length=1, max_length=200)
    artifact: str | None = Field(default=None, max_length=500)
    notes: str = Field(default="", max_length=20_000)
    change_ids: list[int] = Field(default_factory=list, max_length=500)


class ReleaseOut(ResponseModel):
    """A release."""

    id: int
    service: str
    version: str = Field(validation_alias="version_label")
    artifact: str | None
    notes: str
    change_ids: list[int]
    created_by: str
    created_at: datetime


class GateOut(ResponseModel):
    """One gate's answer: pass, fail, or skip (not configured)."""

    gate: str
    status: str
    reason: str


EnvironmentName = Slug
