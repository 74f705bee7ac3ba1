"""Time-to-delivery per service and week, and the flow of changes through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from flywheel.change import service as change_service
from flywheel.change.lifecycle import FINAL_STATES
from flywheel.delivery import ttd
from flywheel.delivery.service import Period
from flywheel.deploy import service as deploy_service

_FINAL = frozenset(s.value for s in FINAL_STATES)


@dataclass(frozen=True)
class TimeToDelivery:
    """Where the time went, per service, overall and per week; and the weekly flow."""

    period: Period
    services: dict[str, ttd.Breakdown]
    total: ttd.Breakdown
    weekly: list[tuple[float, ttd.Breakdown]]
    flow: list[ttd.WeekFlow]


def journeys(session: Session, *, period: Period, services: list[str] | None) -> ttd.Journeys:
    """Every change first delivered to production in the period, with its milestones."""
    rows = deploy_service.delivery_milestones(
        session, start=period.since, end=period.until, services=services
    )
    return ttd.Journeys.of([r for r in rows if r[0] is not None and r[3] is not None])


def _in_flight(
    session: Session, period: Period, services: list[str] | None, found: ttd.Journeys
) -> ttd.InFlight:
    rows = change_service.pipeline_changes(
        session, since=period.since, until=period.until, services=services
    )
    delivered = dict(zip(found.change_id.tolist(), found.finished.tolist(), strict=True))
    since = period.since.timestamp()
    older = [r[0] for r in rows if r[2] < since and r[0] not in delivered]
    gone_before = deploy_service.delivered_before(session, change_ids=older, moment=period.since)
    kept = [r for r in rows if r[0] not in gone_before]
    nan = float("nan")
    return ttd.InFlight(
        opened=np.array([r[2] for r in kept], dtype=np.float64),
        delivered=np.array([delivered.get(r[0], nan) for r in kept], dtype=np.float64),
        ended=np.array([r[4] if r[3] in _FINAL else nan for r in kept], dtype=np.float64),
    )


def time_to_delivery(
    session: Session, *, period: Period, services: list[str] | None
) -> TimeToDelivery:
    """Phase breakdowns of the changes delivered in the period, and the weekly flow."""
    found = journeys(session, period=period, services=services)
    by_service = ttd.groups(found.service)
    since, until = period.since.timestamp(), period.until.timestamp()
    empty = found.take(np.zeros(0, dtype=np.int64))
    keys = sorted(set(services or []) | set(by_service))
    return TimeToDelivery(
        period=period,
        services={
            k: ttd.breakdown(found.take(by_service[k]) if k in by_service else empty) for k in keys
        },
        total=ttd.breakdown(found),
        weekly=[(week, ttd.breakdown(j)) for week, j in ttd.by_week(found, since, until)],
        flow=ttd.flow(_in_flight(session, period, services, found), since, until),
    )
