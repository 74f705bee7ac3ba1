"""Request and response models of problems, known errors, fixes and trackers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field, HttpUrl

from flywheel.problem.lifecycle import ProblemState, Resolution, RootCauseCategory
from flywheel.schemas import RequestModel, ResponseModel, Slug, VersionedUpdate

Reference = str  # 42, INC0000042, PRB0000042, KE0000042


class ProblemCreate(RequestModel):
    """A problem opened by hand from one or more incidents."""

    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    incidents: list[Reference] = Field(default_factory=list, max_length=500)
    service: str | None = Field(default=None, max_length=200)
    owner: str | None = Field(default=None, max_length=100)


class IncidentLinkIn(RequestModel):
    """Incidents to link to the problem."""

    incidents: list[Reference] = Field(min_length=1, max_length=500)


class StateMove(VersionedUpdate):
    """Move a problem to another state."""

    state: ProblemState
    note: str = Field(default="", max_length=5000)


class RcaIn(VersionedUpdate):
    """The root-cause analysis record (fields left out keep their value)."""

    five_whys: list[str] | None = Field(default=None, max_length=20)
    contributing_factors: list[str] | None = Field(default=None, max_length=50)
    root_cause: str | None = Field(default=None, max_length=20_000)
    category: RootCauseCategory | None = None
    changes_involved: list[str] | None = Field(default=None, max_length=100)


class RouteIn(VersionedUpdate):
    """Where the fix goes; which fields are needed depends on the root-cause category."""

    title: str | None = Field(default=None, max_length=300)
    tracker: Slug | None = Field(default=None, description="software: the team's tracker")
    owner: str | None = Field(default=None, max_length=100, description="task: who does it")
    due_date: date | None = Field(default=None, description="task: when it is due")
    task_kind: Literal["runbook", "training", "vendor"] | None = None


class CloseIn(VersionedUpdate):
    """Close a problem, saying how it ended."""

    resolution: Resolution
    note: str = Field(default="", max_length=5000)


class FixDone(RequestModel):
    """A task fix is done."""

    note: str = Field(default="", max_length=5000)


class Decision(RequestModel):
    """Accept or dismiss a suggestion."""

    title: str | None = Field(default=None, max_length=300)
    reason: str = Field(default="", max_length=2000)


class SuggestRun(RequestModel):
    """Look for recurring incidents."""

    period_days: float = Field(default=14, gt=0, le=365)
    min_incidents: int = Field(default=3, ge=2, le=1000)
    since: AwareDatetime | None = None
    by_ci: bool = True
    by_signature: bool = True


class TrackerIn(RequestModel):
    """A team's issue tracker, reached by an outgoing webhook."""

    name: Slug
    kind: Literal["github", "jira"]
    url: HttpUrl
    project: str = Field(default="", max_length=200)


class KnownErrorCreate(RequestModel):
    """A known error: how to recognise it and what to do meanwhile."""

    problem: Reference | None = None
    title: str = Field(min_length=1, max_length=300)
    workaround: str = Field(min_length=1, max_length=20_000)
    service: str | None = Field(default=None, max_length=200)
    ci: str | None = Field(default=None, max_length=200)
    signature: str | None = Field(default=None, max_length=400)
    text: str | None = Field(default=None, max_length=400, description="Error text to look for")


class SupersedeIn(VersionedUpdate):
    """This known error is replaced by another one."""

    by: Reference


class ProblemOut(ResponseModel):
    """A problem."""

    id: int
    number: str
    title: str
    description: str
    state: ProblemState
    service: str
    ci_keys: list[str]
    signature: str | None
    owner: str | None
    category: RootCauseCategory | None
    root_cause: str
    five_whys: list[str]
    contributing_factors: list[str]
    changes_involved: list[str]
    root_cause_at: datetime | None
    resolution: Resolution | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    last_recurrence_at: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    version: int


class FixOut(ResponseModel):
    """A routed fix."""

    id: int
    route: str
    state: str
    title: str
    tracker: str | None
    change_number: str | None
    owner: str | None
    due_date: date | None
    data: dict[str, Any]
    created_at: datetime
    done_at: datetime | None


class DeliveryOut(ResponseModel):
    """An outgoing webhook and how its sending went."""

    id: int
    problem_id: int
    fix_id: int
    tracker: str
    url: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None


class EventOut(ResponseModel):
    """One entry of a problem's (or its incidents') timeline."""

    at: datetime
    kind: str
    actor: str
    summary: str
    incident: str | None = None


class LinkedIncidentOut(ResponseModel):
    """An incident of the problem."""

    incident_id: int
    number: str
    title: str
    state: str
    opened_at: datetime
    reason: str


class ChangeLinkOut(ResponseModel):
    """A change that carries the fix."""

    change_id: int
    change_number: str
    found_in: str
    state: str


class ProblemDetail(ProblemOut):
    """A problem with its incidents, fixes, changes, known errors and timeline."""

    incidents: list[LinkedIncidentOut]
    fixes: list[FixOut]
    changes: list[ChangeLinkOut]
    known_errors: list[KnownErrorOut]
    suspect_changes: list[str]
    timeline: list[EventOut]
    time_to_root_cause_s: float | None


class SuggestionOut(ResponseModel):
    """A suggested problem with its evidence."""

    id: int
    basis: str
    value: str
    incident_ids: list[int]
    evidence: dict[str, Any]
    state: str
    problem_id: int | None
    created_at: datetime


class TrackerOut(ResponseModel):
    """A configured tracker."""

    id: int
    name: str
    kind: str
    url: str
    project: str


class KnownErrorOut(ResponseModel):
    """A known error."""

    id: int
    number: str
    problem_id: int | None
    title: str
    service: str | None
    ci: str | None
    signature: str | None
    text: str | None
    workaround: str
    active: bool
    superseded_by: int | None
    matched_count: int
    created_at: datetime
    version: int


class MatchOut(ResponseModel):
    """Which known error an incident matches (following replacements), if any."""

    incident_id: int
    known_error: KnownErrorOut | None
    followed: list[str]


class CategoryMeasure(ResponseModel):
    """Measures of the problems of one root-cause category (or all)."""

    category: str
    problems: int
    resolved: int
    reopened: int
    recurrence_rate: float | None
    mean_time_to_root_cause_s: float | None
    mean_time_to_fix_s: float | None


class MeasuresOut(ResponseModel):
    """Problem management measures."""

    overall: CategoryMeasure
    by_category: list[CategoryMeasure]
    open_known_errors_by_service: dict[str, int]


class SweepOut(ResponseModel):
    """What a verification sweep did."""

    linked_changes: list[str]
    resolved: list[str]
    closed: list[str]
    reopened: list[str]
    deliveries: dict[str, int]


ProblemDetail.model_rebuild()
