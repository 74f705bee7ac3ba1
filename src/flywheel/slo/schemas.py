"""Request and response models of the SLO domain."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, field_validator, model_validator

from flywheel.cmdb.schemas import CIKey
from flywheel.schemas import RequestModel, ResponseModel, Slug
from flywheel.slo.budget import BudgetError, BurnRule, Severity, check_objective
from flywheel.slo.prometheus import WINDOW_PLACEHOLDER
from flywheel.slo.sli import MEASURES_LATENCY, METHODS, Method, SourceKind
from flywheel.slo.windows import WindowKind, parse_window

Query = str


def _objective(value: float) -> float:
    try:
        return check_objective(value)
    except BudgetError as exc:
        raise ValueError(str(exc)) from exc


class WindowIn(RequestModel):
    """The compliance period: the last N days (28 or 30 usually), or calendar months."""

    kind: WindowKind = WindowKind.ROLLING
    days: int | None = Field(default=None, ge=1, le=90)

    @model_validator(mode="after")
    def _days_fit_kind(self) -> WindowIn:
        if self.kind is WindowKind.ROLLING and self.days is None:
            self.days = 30
        if self.kind is WindowKind.CALENDAR_MONTH and self.days is not None:
            raise ValueError("a calendar-month window takes no 'days'")
        return self


class LatencyIn(RequestModel):
    """A latency objective: this share of requests (or probes) faster than the threshold."""

    threshold_ms: float = Field(gt=0, le=600_000)
    objective: float

    _check = field_validator("objective")(_objective)


class PrometheusIn(RequestModel):
    """PromQL for counts over `$window` (e.g. sum(increase(http_requests_total[$window])))."""

    good: Query = Field(min_length=1, max_length=4000)
    total: Query = Field(min_length=1, max_length=4000)
    latency_good: Query | None = Field(default=None, min_length=1, max_length=4000)
    latency_total: Query | None = Field(default=None, min_length=1, max_length=4000)

    @model_validator(mode="after")
    def _windowed(self) -> PrometheusIn:
        for name in ("good", "total", "latency_good", "latency_total"):
            query = getattr(self, name)
            if query is not None and WINDOW_PLACEHOLDER not in query:
                raise ValueError(f"the '{name}' query must use {WINDOW_PLACEHOLDER} as its range")
        return self


class BurnRuleIn(RequestModel):
    """Alert when the budget burns at burn_rate x or faster over both windows."""

    severity: Severity
    burn_rate: float = Field(gt=0, le=10_000)
    long_window: str = Field(min_length=2, max_length=16)
    short_window: str = Field(min_length=2, max_length=16)

    def to_rule(self) -> BurnRule:
        """The rule (BudgetError when the windows do not make sense)."""
        return BurnRule(
            self.severity,
            self.burn_rate,
            parse_window(self.long_window),
            parse_window(self.short_window),
        )

    @model_validator(mode="after")
    def _valid(self) -> BurnRuleIn:
        try:
            rule = self.to_rule()
        except BudgetError as exc:
            raise ValueError(str(exc)) from exc
        if rule.long_window > timedelta(days=30):
            raise ValueError("an alert window may be at most 30 days")
        return self


class SloCreate(RequestModel):
    """A service level objective for a service."""

    service: CIKey
    name: Slug
    description: str = Field(default="", max_length=5000)
    objective: float = Field(description="Availability objective in percent, e.g. 99.99")
    latency: LatencyIn | None = None
    source: SourceKind
    method: Method | None = Field(default=None, description="Default: the source's natural one")
    slice_seconds: int = Field(default=60, ge=10, le=3600)
    window: WindowIn = Field(default_factory=WindowIn)
    prometheus: PrometheusIn | None = None
    alert_rules: list[BurnRuleIn] | None = Field(
        default=None, max_length=12, description="Default: the SRE Workbook's four rules"
    )

    _check = field_validator("objective")(_objective)

    @model_validator(mode="after")
    def _source_fits(self) -> SloCreate:
        allowed = METHODS[self.source]
        if self.method is None:
            self.method = allowed[0]
        if self.method not in allowed:
            names = ", ".join(m.value for m in allowed)
            raise ValueError(f"source '{self.source.value}' counts {names}, not {self.method}")
        if self.latency is not None and self.source not in MEASURES_LATENCY:
            raise ValueError(f"source '{self.source.value}' measures no latency")
        if (self.source is SourceKind.PROMETHEUS) != (self.prometheus is not None):
            raise ValueError("'prometheus' queries go with (and only with) source 'prometheus'")
        needs_latency_query = self.prometheus is not None and self.latency is not None
        if needs_latency_query and self.prometheus and not self.prometheus.latency_good:
            raise ValueError("a latency objective on Prometheus needs a 'latency_good' query")
        return self


class BurnRuleOut(ResponseModel):
    """A burn-rate alert rule."""

    severity: str
    burn_rate: float
    long_window: str
    short_window: str


class SloOut(ResponseModel):
    """A service level objective."""

    id: int
    service: str
    name: str
    description: str
    objective: float
    latency_threshold_ms: float | None
    latency_objective: float | None
    source: str
    method: str
    slice_seconds: int
    window_kind: str
    window_days: int | None
    prometheus: dict[str, Any] | None
    alert_rules: list[BurnRuleOut]
    created_by: str
    created_at: datetime
    row_version: int = Field(validation_alias="version")


class BudgetOut(ResponseModel):
    """The error budget of an objective over its compliance period."""

    allowed: float = Field(description="Bad events (or slices) the objective allows")
    consumed: float = Field(description="Bad events (or slices) so far")
    consumed_fraction: float
    remaining_fraction: float
    allowed_minutes: float | None = None
    consumed_minutes: float | None = None
    remaining_minutes: float | None = None
    spent: bool


class BurnOut(ResponseModel):
    """The burn rate over one window (null: no data in it)."""

    window: str
    burn_rate: float | None
    good: float
    total: float


class AlertOut(ResponseModel):
    """What one burn-rate rule says now."""

    severity: str
    burn_rate: float
    long_window: str
    short_window: str
    long_burn: float | None
    short_burn: float | None
    status: str


class ObjectiveStatusOut(ResponseModel):
    """Attainment, budget, burn rates and alerts of one objective."""

    kind: str
    objective: float
    threshold_ms: float | None = None
    status: str = Field(description="ok, at risk (an alert fires), budget spent, or no data")
    sli: float | None
    good: float
    total: float
    unit: str
    budget: BudgetOut | None
    burn_rates: list[BurnOut]
    alerts: list[AlertOut]
    note: str | None = None


class PeriodOut(ResponseModel):
    """The compliance period judged."""

    kind: str
    start: datetime
    end: datetime
    period_end: datetime


class SloStatusOut(ResponseModel):
    """An SLO's state now."""

    slo: SloOut
    evaluated_at: datetime
    period: PeriodOut
    status: str
    objectives: list[ObjectiveStatusOut]


class ServiceSloStatusOut(ResponseModel):
    """Every SLO of a service, and whether its error budget policy blocks deployments."""

    service: str
    status: str
    budget_spent: bool
    slos: list[SloStatusOut]


class BurnAlertOut(ResponseModel):
    """A firing burn-rate alert handed to the incident domain."""

    fingerprint: str
    service: str
    slo_id: int
    slo_name: str
    objective_kind: str
    severity: str
    burn_rate: float
    long_window: str
    short_window: str
    long_burn: float
    short_burn: float
    summary: str
    labels: dict[str, str]


class AlertRun(RequestModel):
    """Evaluate the burn-rate alerts of every SLO, or of one service's."""

    service: CIKey | None = None


class AlertRunOut(ResponseModel):
    """What an evaluation raised, the rules it judged quiet, and which sinks received it."""

    evaluated_at: datetime
    sinks: list[str]
    alerts: list[BurnAlertOut]
    quiet: list[str] = Field(
        default_factory=list,
        description="Fingerprints of rules with data that do not fire (sinks resolve them).",
    )


class TenantCostOut(ResponseModel):
    """Minutes an incident (or unnamed downtime) cost a tenant in a month."""

    cause: str
    service: str
    minutes: float


class TenantMonthOut(ResponseModel):
    """One calendar month as a tenant experienced it."""

    month: str
    start: datetime
    end: datetime
    status: str = Field(description="met, missed (below the objective), or no data")
    availability: float | None
    downtime_minutes: float | None
    minutes: float
    incidents: list[TenantCostOut]


class TenantAvailabilityOut(ResponseModel):
    """A tenant's availability per month, with the incidents that cost it."""

    tenant: str
    name: str
    services: list[str]
    objective: float | None
    months: list[TenantMonthOut]
    note: str | None
