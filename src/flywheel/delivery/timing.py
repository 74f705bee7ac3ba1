"""Time-to-delivery per service and week, and the flow of changes through the pipeline."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

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


def journeys(session: Session, *, period: Period, services: list[str] | None) -> list[ttd.Journey]:
    """Every change first delivered to production in the period, with its milestones."""
    rows = deploy_service.delivery_milestones(
        session, start=period.since, end=period.until, services=services
    )
    return [ttd.Journey(*row) for row in rows if row[0] is not None and row[3] is not None]


def _in_flight(
    session: Session, period: Period, services: list[str] | None, delivered: dict[int, float]
) -> list[ttd.InFlight]:
    rows = change_service.pipeline_changes(
        session, since=period.since, until=period.until, services=services
    )
    since = period.since.timestamp()
    older = [r[0] for r in rows if r[2] < since and r[0] not in delivered]
    gone_before = deploy_service.delivered_before(session, change_ids=older, moment=period.since)
    found = []
    for change_id, _service, opened, state, updated in rows:
        if change_id in gone_before:
            continue
        ended = updated if state in _FINAL else None
        found.append(ttd.InFlight(opened, delivered.get(change_id), ended))
    return found


def time_to_delivery(
    session: Session, *, period: Period, services: list[str] | None
) -> TimeToDelivery:
    """Phase breakdowns of the changes delivered in the period, and the weekly flow."""
    found = journeys(session, period=period, services=services)
    by_service: dict[str, list[ttd.Journey]] = defaultdict(list)
    for journey in found:
        by_service[journey.service].append(journey)
    keys = sorted(set(services or []) | set(by_service))
    since, until = period.since.timestamp(), period.until.timestamp()
    weekly = ttd.by_week(found, since, until)
    delivered = {j.change_id: j.finished for j in found}
    return TimeToDelivery(
        period=period,
        services={k: ttd.breakdown(by_service.get(k, [])) for k in keys},
        total=ttd.breakdown(found),
        weekly=[(week, ttd.breakdown(items)) for week, items in sorted(weekly.items())],
        flow=ttd.flow(_in_flight(session, period, services, delivered), since, until),
    )
