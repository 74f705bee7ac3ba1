"""Request and response models of the change domain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from flywheel.change.lifecycle import ChangeType, CloseCode
from flywheel.cmdb.schemas import CIKey
from flywheel.schemas import RequestModel, ResponseModel, Slug

Sha = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{7,64}$", strip_whitespace=True)]
Text = Annotated[str, StringConstraints(max_length=20_000)]


class CommitIn(RequestModel):
    """A commit the change carries."""

    sha: Sha
    author: str | None = Field(default=None, max_length=200)
    authored_at: AwareDatetime | None = None
    message: str | None = Field(default=None, max_length=5000)


def _is_past(instant: datetime) -> bool:
    return instant <= datetime.now(UTC)


class ChangeCreate(RequestModel):
    """A change opened by a person or a pipeline."""

    type: ChangeType = ChangeType.NORMAL
    service: CIKey
    cis: list[CIKey] = Field(default_factory=list, max_length=500)
    title: str = Field(min_length=1, max_length=300)
    description: Text = ""
    implementation_plan: Text = ""
    backout_plan: Text = ""
    assigned_team: Slug | None = None
    planned_start: AwareDatetime | None = None
    planned_end: AwareDatetime | None = None
    version: str | None = Field(default=None, max_length=200)
    artifact: str | None = Field(default=None, max_length=500)
    commits: list[CommitIn] = Field(default_factory=list, max_length=1000)
    test_results: dict[str, Any] | None = None
    code_metrics: dict[str, float] | None = Field(
        default=None, description="Precomputed change metrics (la, ld, nf, …) from the pipeline"
    )
    external_id: str | None = Field(
        default=None,
        max_length=200,
        description="The pipeline run's id: a retry with the same id returns the same change",
    )
    receipt: bool = Field(default=False, description="Record a change already done (if allowed)")
    implemented_at: AwareDatetime | None = Field(default=None, description="For receipts")

    @model_validator(mode="after")
    def _check_times(self) -> ChangeCreate:
        if self.planned_start and self.planned_end and self.planned_end <= self.planned_start:
            raise ValueError("planned_end must be after planned_start")
        if self.planned_end and not self.planned_start and _is_past(self.planned_end):
            raise ValueError("planned_end is in the past: give planned_start too, or a later end")
        if self.receipt and self.type is ChangeType.EMERGENCY:
            raise ValueError("an emergency change cannot be a receipt")
        return self


class Verdict(RequestModel):
    """An approval or rejection."""

    comment: str = Field(default="", max_length=5000)


class Rejection(RequestModel):
    """A rejection, with its reason."""

    reason: str = Field(min_length=1, max_length=5000)


class Completion(RequestModel):
    """How the implementation went."""

    close_code: CloseCode
    notes: str = Field(default="", max_length=20_000)


class Override(RequestModel):
    """Break glass: proceed despite a blackout window."""

    reason: str = Field(min_length=10, max_length=5000)


class Reschedule(RequestModel):
    """A new planned window for a change that has not started."""

    planned_start: AwareDatetime
    planned_end: AwareDatetime
    row_version: int | None = Field(
        default=None, ge=1, description="The version you read; 409 if the change moved on"
    )
    break_glass_reason: str | None = Field(
        default=None,
        min_length=10,
        max_length=5000,
        description="Move an approved change into a blackout window anyway (allowed roles only)",
    )

    @model_validator(mode="after")
    def _check_times(self) -> Reschedule:
        if self.planned_end <= self.planned_start:
            raise ValueError("planned_end must be after planned_start")
        return self


class CommitOut(ResponseModel):
    """A commit of a change."""

    sha: str
    author: str | None
    authored_at: datetime | None
    message: str | None


class ApprovalOut(ResponseModel):
    """A recorded approval or rejection."""

    username: str
    verdict: str
    as_role: str | None
    comment: str
    created_at: datetime


class ChangeOut(ResponseModel):
    """A change request."""

    id: int
    number: str
    type: str
    state: str
    service: str
    cis: list[str] = Field(validation_alias="ci_keys")
    title: str
    description: str
    implementation_plan: str
    backout_plan: str
    requested_by: str
    assigned_team: str | None
    planned_start: datetime | None
    planned_end: datetime | None
    actual_start: datetime | None
    actual_end: datetime | None
    version: str | None = Field(validation_alias="version_label")
    artifact: str | None
    external_id: str | None
    receipt: bool
    commits: list[CommitOut]
    test_results: dict[str, Any] | None
    risk_score: float | None
    risk_level: str | None
    risk_explanation: dict[str, Any] | None
    risk_model_version: str | None
    decision: dict[str, Any] | None
    approvals: list[ApprovalOut]
    close_code: str | None
    close_notes: str | None
    links: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    row_version: int = Field(validation_alias="version", description="For optimistic updates")


class TransitionOut(ResponseModel):
    """One step of a change's timeline."""

    from_state: str | None
    to_state: str
    at: datetime
    actor: str
    reason: str | None


class PolicyApply(RequestModel):
    """A new version of a service's change policy."""

    text: str = Field(min_length=1, max_length=200_000, description="The policy as YAML")


class PolicyOut(ResponseModel):
    """A stored policy version."""

    scope: str
    version: int = Field(description="0 for the built-in policy")
    text: str
    created_at: datetime | None
    created_by: str


class WindowCreate(RequestModel):
    """A blackout or maintenance window."""

    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(blackout|maintenance)$")
    scope: str = Field(
        default="all", max_length=210, description="'all', 'service:KEY' or 'ci:KEY'"
    )
    include_dependents: bool = False
    start: datetime | None = None
    end: datetime | None = None
    rrule: str | None = Field(default=None, max_length=500)
    duration_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 31)
    timezone: str = "UTC"
    override_roles: list[str] = Field(default_factory=list, max_length=10)
    reason: str = Field(default="", max_length=5000)


class WindowOut(ResponseModel):
    """A stored window."""

    id: int
    name: str
    kind: str
    scope_type: str
    scope_key: str | None
    include_dependents: bool
    start: datetime | None
    end: datetime | None
    rrule: str | None
    duration_minutes: int | None
    timezone: str
    override_roles: list[str]
    reason: str
    created_by: str
    active: bool


class CalendarEntry(ResponseModel):
    """A change or a window occurrence on the calendar."""

    kind: str
    start: datetime
    end: datetime
    title: str
    change: str | None = None
    window_id: int | None = None
    state: str | None = None
