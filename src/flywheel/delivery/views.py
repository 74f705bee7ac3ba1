"""API routes of the delivery domain."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.db import as_utc, utcnow
from flywheel.delivery import service, timing
from flywheel.delivery.schemas import (
    DeliveryMetricsOut,
    TimeToDeliveryOut,
    keys_out,
    time_to_delivery_out,
)
from flywheel.http.deps import DbSession, require

router = APIRouter(tags=["delivery"])

Reader = Annotated[Actor, Depends(require(Permission.DELIVERY_READ))]
ServiceKey = Annotated[str | None, Query(alias="service", min_length=1, max_length=200)]
TeamKey = Annotated[str | None, Query(alias="team", min_length=1, max_length=64)]
DEFAULT_DAYS = 90


def period_of(since: datetime | None, until: datetime | None) -> service.Period:
    """The period asked for: until defaults to now, since to 90 days before until."""
    end = as_utc(until) or utcnow()
    start = as_utc(since) or end - timedelta(days=DEFAULT_DAYS)
    return service.check_period(start, end)


@router.get("/delivery/metrics", response_model=DeliveryMetricsOut)
def delivery_metrics(
    session: DbSession,
    _: Reader,
    service_key: ServiceKey = None,
    team: TeamKey = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DeliveryMetricsOut:
    """Deployment frequency, lead time, change failure rate and recovery time, with bands."""
    period = period_of(since, until)
    scope = service.scope_services(session, service=service_key, team=team)
    report = service.metrics(session, period=period, services=scope)
    return DeliveryMetricsOut(
        since=period.since,
        until=period.until,
        days=period.days,
        service=service_key,
        team=team,
        services=[keys_out(k, v) for k, v in report.services.items()],
        total=keys_out(None, report.total),
    )


@router.get("/delivery/time-to-delivery", response_model=TimeToDeliveryOut)
def time_to_delivery(
    session: DbSession,
    _: Reader,
    service_key: ServiceKey = None,
    team: TeamKey = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> TimeToDeliveryOut:
    """Commit → production, decomposed per service and week; opened vs delivered per week."""
    period = period_of(since, until)
    scope = service.scope_services(session, service=service_key, team=team)
    report = timing.time_to_delivery(session, period=period, services=scope)
    return time_to_delivery_out(report, service=service_key, team=team)
