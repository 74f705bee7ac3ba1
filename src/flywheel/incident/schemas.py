"""Request and response models of the incident domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

from flywheel.incident.incoming import AlertStatus
from flywheel.schemas import RequestModel, ResponseModel, Slug, VersionedUpdate

MAX_BATCH = 2000
# Plain strings: the body size limit bounds them, and per-string constraints cost a tenth
# of a storm's parsing time.
Labels = Annotated[dict[str, str], Field(max_length=200)]


class CIRuleIn(RequestModel):
    """A label → CI key rule: a template over label names, optionally narrowed by a regex."""

    template: str = Field(min_length=1, max_length=300, examples=["{instance}", "{service}-pool"])
    pattern: str | None = Field(
        default=None, max_length=300, description="Its first group (or match) is the key"
    )


class IntegrationCreate(RequestModel):
    """A monitoring system that may send alerts."""

    name: Slug
    kind: Literal["alertmanager"] = "alertmanager"
    ci_rules: list[CIRuleIn] | None = Field(
        default=None, max_length=50, description="Tried in order; default: ci, instance, service"
    )
    signed: bool = Field(
        default=False, description="Require an HMAC signature on every webhook (secret shown once)."
    )


class IntegrationUpdate(VersionedUpdate):
    """New CI mapping rules for an integration."""

    ci_rules: list[CIRuleIn] = Field(max_length=50)


class IntegrationOut(ResponseModel):
    """A stored integration (its token is never shown again)."""

    name: str
    kind: str
    hint: str
    ci_rules: list[dict[str, Any]]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    signed: bool = False
    version: int


class IntegrationCreated(IntegrationOut):
    """A new integration and its token, shown this once."""

    token: str
    webhook_path: str
    signing_secret: str | None = None


class AlertmanagerAlert(BaseModel):
    """One alert of an Alertmanager webhook (extra fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    status: AlertStatus
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: AwareDatetime  # noqa: N815 (Alertmanager's field names)
    endsAt: AwareDatetime | None = None  # noqa: N815
    generatorURL: str | None = Field(default=None, max_length=4000)  # noqa: N815
    fingerprint: str | None = Field(default=None, min_length=1, max_length=128)


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook body, version 4."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str = Field(max_length=10_000)  # noqa: N815
    status: AlertStatus
    receiver: str = Field(default="", max_length=1000)
    truncatedAlerts: int = Field(default=0, ge=0)  # noqa: N815
    alerts: list[AlertmanagerAlert] = Field(max_length=MAX_BATCH)


class AlertIn(RequestModel):
    """An alert from any monitoring system."""

    source: Slug = Field(description="Which system sent it; fingerprints are unique per source")
    fingerprint: str | None = Field(
        default=None, min_length=1, max_length=128, description="Default: derived from labels"
    )
    status: AlertStatus = AlertStatus.FIRING
    labels: Labels = Field(description="At least alertname; service/instance/ci map it to a CI")
    annotations: Labels = Field(default_factory=dict)
    severity: str | None = Field(
        default=None, max_length=32, description="critical, warning, info; default: label"
    )
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now")
    ends_at: AwareDatetime | None = None
    generator_url: str | None = Field(default=None, max_length=1000)


class IntakeOut(BaseModel):
    """What a batch of alerts did."""

    received: int
    alerts_new: int
    alerts_updated: int
    ci_unknown: int
    incidents_opened: list[str]
    incidents_updated: list[str]
    incidents_reopened: list[str]
    incidents_resolved: list[str]
    normalised: list[dict[str, Any]] = Field(
        description="Alerts whose timestamps were corrected, and how"
    )


class AlertOut(ResponseModel):
    """A deduplicated alert."""

    source: str
    fingerprint: str
    status: str
    alertname: str
    severity: str
    summary: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    ci_key: str | None
    ci_unknown: bool
    group_key: str
    flags: list[str]
    starts_at: datetime
    ends_at: datetime | None
    first_seen: datetime
    last_seen: datetime
    received: int
    flips: int


class TimelineEventOut(ResponseModel):
    """One entry of an incident's timeline."""

    id: int
    at: datetime
    kind: str
    actor: str
    summary: str
    data: dict[str, Any] | None


class LinkOut(ResponseModel):
    """Something the incident is linked to."""

    kind: str
    ref: str
    note: str
    created_at: datetime
    created_by: str


class IncidentOut(ResponseModel):
    """An incident."""

    id: int
    number: str
    title: str
    state: str
    priority: str
    urgency: int
    impact_level: int
    impact: dict[str, Any] | None
    service: str
    service_known: bool
    ci_keys: list[str]
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    reopen_count: int
    flapping: bool
    alert_count: int
    firing_count: int
    last_alert_at: datetime | None
    source: str
    external_id: str | None
    category: str | None
    assignment_group: str | None
    ci_text: str | None
    sla_met: bool | None
    details: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    version: int

    @field_validator("priority", mode="before")
    @classmethod
    def _priority_label(cls, value: object) -> object:
        return f"P{value}" if isinstance(value, int) else value


class IncidentDetail(IncidentOut):
    """An incident with its alerts, links and timeline."""

    alerts: list[AlertOut]
    links: list[LinkOut]
    timeline: list[TimelineEventOut]


class Acknowledge(VersionedUpdate):
    """Take an incident: someone is on it."""

    note: str = Field(default="", max_length=5000)


class Resolve(VersionedUpdate):
    """Say the service is restored."""

    note: str = Field(default="", max_length=5000)


class Reopen(VersionedUpdate):
    """It is not over after all."""

    reason: str = Field(min_length=1, max_length=5000)


class NoteIn(RequestModel):
    """A note on the timeline."""

    text: str = Field(min_length=1, max_length=20_000)


class ChangeLinkIn(RequestModel):
    """Link a change to the incident (e.g. the one that caused it)."""

    change: str = Field(min_length=1, max_length=32, examples=["CHG0000042", "42"])
    note: str = Field(default="", max_length=5000)


class MetricsRow(BaseModel):
    """Response times of incidents of one service and priority."""

    service: str
    priority: str
    incidents: int
    acknowledged: int
    resolved: int
    mtta_seconds: float | None
    mttr_seconds: float | None


class MetricsOut(BaseModel):
    """MTTA and MTTR per service and priority, and overall."""

    since: datetime | None
    until: datetime | None
    overall: MetricsRow
    rows: list[MetricsRow]
