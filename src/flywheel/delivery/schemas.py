"""Response models of the delivery domain."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field

from flywheel.delivery import bands, dora, ttd
from flywheel.delivery.timing import TimeToDelivery
from flywheel.schemas import ResponseModel

NO_DATA, OK = "no data", "ok"


class DeploymentFrequencyOut(ResponseModel):
    """Successful production deployments over the period."""

    status: str
    deployments: int
    per_day: float | None
    per_week: float | None
    band: str | None


class DurationOut(ResponseModel):
    """Median and nearest-rank 90th percentile of durations, in seconds."""

    status: str
    count: int
    median_s: float | None
    p90_s: float | None
    band: str | None


class ChangeFailureOut(ResponseModel):
    """Production deployments with a failure signal, of those finished."""

    status: str
    deployments: int
    failed: int
    rate: float | None
    band: str | None


class RecoveryOut(DurationOut):
    """Failed deployment recovery time; unrecovered failures are counted apart."""

    failures: int
    unrecovered: int


class KeysOut(ResponseModel):
    """The four keys of a service, or of the whole scope."""

    service: str | None = Field(description="null for the scope's total")
    deployment_frequency: DeploymentFrequencyOut
    lead_time: DurationOut
    change_failure_rate: ChangeFailureOut
    recovery_time: RecoveryOut


class DeliveryMetricsOut(ResponseModel):
    """The four keys per service and in total for a period."""

    since: datetime
    until: datetime
    days: float
    service: str | None
    team: str | None
    bands_source: str = bands.SOURCE
    services: list[KeysOut]
    total: KeysOut


def keys_out(service: str | None, keys: dora.Keys) -> KeysOut:
    """The API view of the four keys."""
    per_day = keys.per_day
    rate = keys.failure_rate
    lead, recovery = keys.lead_time, keys.recovery
    return KeysOut(
        service=service,
        deployment_frequency=DeploymentFrequencyOut(
            status=OK if per_day is not None else NO_DATA,
            deployments=keys.deployments,
            per_day=per_day,
            per_week=None if per_day is None else per_day * 7,
            band=None if per_day is None else bands.deployment_frequency_band(per_day),
        ),
        lead_time=DurationOut(
            status=OK if lead.median is not None else NO_DATA,
            count=lead.count,
            median_s=lead.median,
            p90_s=lead.p90,
            band=None if lead.median is None else bands.lead_time_band(lead.median),
        ),
        change_failure_rate=ChangeFailureOut(
            status=OK if rate is not None else NO_DATA,
            deployments=keys.finished,
            failed=keys.failed,
            rate=rate,
            band=None if rate is None else bands.change_failure_band(rate),
        ),
        recovery_time=RecoveryOut(
            status=OK if recovery.median is not None else NO_DATA,
            count=recovery.count,
            median_s=recovery.median,
            p90_s=recovery.p90,
            band=None if recovery.median is None else bands.recovery_band(recovery.median),
            failures=keys.failed,
            unrecovered=keys.unrecovered,
        ),
    )


class PhaseOut(ResponseModel):
    """One phase over the changes: median, nearest-rank p90, mean, share of all time spent."""

    count: int
    median_s: float | None
    p90_s: float | None
    mean_s: float | None
    share: float | None


class BreakdownOut(ResponseModel):
    """Where the time went for a set of changes delivered to production."""

    status: str
    changes: int
    phases: dict[str, PhaseOut]
    total: PhaseOut


class ServiceBreakdownOut(BreakdownOut):
    """A service's breakdown."""

    service: str


class WeekBreakdownOut(BreakdownOut):
    """The breakdown of the changes delivered in one week (starting Monday 00:00 UTC)."""

    week_start: datetime


class WeekFlowOut(ResponseModel):
    """Changes produced by development vs delivered to customers in a week, and the queue."""

    week_start: datetime
    opened: int
    delivered: int
    ended_undelivered: int
    queue_at_end: int


class TimeToDeliveryOut(ResponseModel):
    """Time-to-delivery decomposed, per service and per week, and the lagging-behind view."""

    since: datetime
    until: datetime
    service: str | None
    team: str | None
    phases: list[str]
    total: BreakdownOut
    services: list[ServiceBreakdownOut]
    weekly: list[WeekBreakdownOut]
    flow: list[WeekFlowOut]


def _phase_out(stats: ttd.PhaseStats) -> PhaseOut:
    return PhaseOut(
        count=stats.count,
        median_s=stats.median_s,
        p90_s=stats.p90_s,
        mean_s=stats.mean_s,
        share=stats.share,
    )


def breakdown_fields(found: ttd.Breakdown) -> dict[str, object]:
    """The fields every breakdown view shares."""
    return {
        "status": OK if found.changes else NO_DATA,
        "changes": found.changes,
        "phases": {name: _phase_out(stats) for name, stats in found.phases.items()},
        "total": _phase_out(found.total),
    }


def time_to_delivery_out(
    report: TimeToDelivery, *, service: str | None, team: str | None
) -> TimeToDeliveryOut:
    """The API view of a time-to-delivery report."""
    return TimeToDeliveryOut(
        since=report.period.since,
        until=report.period.until,
        service=service,
        team=team,
        phases=list(ttd.PHASES),
        total=BreakdownOut.model_validate(breakdown_fields(report.total)),
        services=[
            ServiceBreakdownOut.model_validate({"service": k, **breakdown_fields(v)})
            for k, v in report.services.items()
        ],
        weekly=[
            WeekBreakdownOut.model_validate({"week_start": _utc(week), **breakdown_fields(found)})
            for week, found in report.weekly
        ],
        flow=[
            WeekFlowOut(
                week_start=_utc(row.week),
                opened=row.opened,
                delivered=row.delivered,
                ended_undelivered=row.ended_undelivered,
                queue_at_end=row.queue_at_end,
            )
            for row in report.flow
        ],
    )


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
