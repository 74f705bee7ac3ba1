"""Delivery metrics per service, team and period, from deployments and changes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from flywheel.auth import service as auth_service
from flywheel.cmdb import service as cmdb
from flywheel.delivery import dora, percentiles
from flywheel.delivery.sources import FAILURE_PROVIDERS
from flywheel.deploy import service as deploy_service
from flywheel.errors import InvalidInput

MAX_PERIOD = timedelta(days=1096)


@dataclass(frozen=True)
class Period:
    """A half-open reporting period [since, until)."""

    since: datetime
    until: datetime

    @property
    def days(self) -> float:
        """Its length in days."""
        return (self.until - self.since) / timedelta(days=1)


def check_period(since: datetime, until: datetime) -> Period:
    """The period, or InvalidInput when it is empty, backwards or longer than three years."""
    if until <= since:
        raise InvalidInput(f"'since' ({since.isoformat()}) must be before 'until'")
    if until - since > MAX_PERIOD:
        raise InvalidInput("a period may be at most three years long")
    return Period(since, until)


def team_services(session: Session, *, team: str) -> list[str]:
    """Keys of the services (business services, applications, pools) a team owns."""
    auth_service.get_team(session, key=team)
    owned, after = [], 0
    while True:
        page = cmdb.list_cis(session, owner_team=team, after_id=after, limit=1000)
        owned += [c.key for c in page if c.type in ("business_service", "application")]
        if len(page) < 1000:
            return sorted(owned)
        after = page[-1].id


def scope_services(session: Session, *, service: str | None, team: str | None) -> list[str] | None:
    """The services a report covers (None: all); NotFound for an unknown service or team."""
    if service is not None:
        cmdb.get_ci(session, key=service)
        chosen = [service]
        if team is not None and service not in team_services(session, team=team):
            raise InvalidInput(f"service '{service}' is not owned by team '{team}'")
        return chosen
    if team is not None:
        return team_services(session, team=team)
    return None


@dataclass(frozen=True)
class DeliveryReport:
    """The four keys per service and for the whole scope."""

    period: Period
    services: dict[str, dora.Keys]
    total: dora.Keys


def _linked_failures(
    session: Session, period: Period, services: list[str] | None
) -> dict[int, float | None]:
    linked: dict[int, float | None] = {}
    for provider in FAILURE_PROVIDERS.values():
        found = provider(session, start=period.since, end=period.until, services=services)
        for failure in found:
            restored = failure.recovered_at.timestamp() if failure.recovered_at else None
            known = linked.get(failure.deployment_id)
            linked[failure.deployment_id] = restored if known is None else known
    return linked


def _rollbacks(
    session: Session, period: Period, services: list[str] | None
) -> dict[int, float | None]:
    found: dict[int, float | None] = {}
    runs = deploy_service.rollback_runs(session, created_from=period.since, services=services)
    for target, state, finished in runs:
        if state == "succeeded" or target not in found:
            found[target] = finished if state == "succeeded" else found.get(target)
    return found


def metrics(session: Session, *, period: Period, services: list[str] | None) -> DeliveryReport:
    """The four keys of each service in scope (None: every service with deployments)."""
    rows = deploy_service.delivery_runs(
        session, start=period.since, end=period.until, services=services
    )
    runs = [dora.Run(*row) for row in rows]
    failed = dora.failures(
        runs,
        rollbacks=_rollbacks(session, period, services),
        linked=_linked_failures(session, period, services),
    )
    leads = percentiles.spreads(
        session,
        deploy_service.lead_time_query(start=period.since, end=period.until, services=services),
    )
    by_service: dict[str, list[dora.Run]] = defaultdict(list)
    for run in runs:
        by_service[run.service].append(run)
    keys = sorted(set(services or []) | set(by_service) | {k for k in leads if k is not None})
    no_leads = dora.Spread(0, None, None)
    per_service = {
        key: dora.keys(by_service.get(key, []), leads.get(key, no_leads), failed, days=period.days)
        for key in keys
    }
    total = dora.keys(runs, leads.get(percentiles.TOTAL, no_leads), failed, days=period.days)
    return DeliveryReport(period, per_service, total)
