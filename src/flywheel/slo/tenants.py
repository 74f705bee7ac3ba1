"""Availability as each tenant experienced it: down whenever a service it uses was down.

Per calendar month (UTC), in one-minute slices: a minute is bad when any business service
the tenant uses (CMDB `uses`) was down in it, by the downtime the incident domain
registers. The incidents that cost the tenant its minutes are listed per month. Without a
downtime provider every month says no data.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from flywheel.cmdb import service as cmdb
from flywheel.db import utcnow
from flywheel.errors import InvalidInput
from flywheel.slo import service as slo_service
from flywheel.slo.budget import Counts
from flywheel.slo.slices import Interval, slice_counts
from flywheel.slo.sources import REGISTRY
from flywheel.slo.windows import month_of

SLICE_S = 60
USES = "uses"


@dataclass(frozen=True)
class Cost:
    """What one incident (or unnamed downtime) cost a tenant in a month."""

    cause: str
    service: str
    minutes: float


@dataclass(frozen=True)
class TenantMonth:
    """A month as the tenant experienced it."""

    month: Interval
    counts: Counts
    costs: list[Cost] = field(default_factory=list)

    @property
    def availability(self) -> float | None:
        """Good minutes per minute counted, in percent (None without data)."""
        ratio = self.counts.ratio
        return None if ratio is None else ratio * 100


@dataclass(frozen=True)
class TenantReport:
    """A tenant's months, the services it uses and the strictest objective among them."""

    tenant: str
    name: str
    services: list[str]
    objective: float | None
    months: list[TenantMonth]
    note: str | None


@dataclass
class _Down:
    interval: Interval
    service: str
    cause: str


def tenant_services(session: Session, *, tenant: str) -> tuple[str, list[str]]:
    """The tenant's name and the business services it uses; InvalidInput if not a tenant."""
    ci = cmdb.get_ci(session, key=tenant)
    if ci.type != "tenant":
        raise InvalidInput(f"'{tenant}' is a {ci.type}, not a tenant")
    used = {t for rel, s, t in cmdb.relationships_of(session, key=tenant) if rel.type == USES}
    return ci.name, sorted(used - {tenant})


def _months(count: int, now: datetime) -> list[Interval]:
    months = [month_of(now)]
    while len(months) < count:
        months.insert(0, month_of(months[0].start - timedelta(microseconds=1)))
    return months


def _downtime(
    session: Session, services: list[str], start: datetime, end: datetime
) -> tuple[list[_Down], list[Interval]]:
    down: list[_Down] = []
    covered: list[Interval] = []
    for provider in REGISTRY.downtime.values():
        for key in services:
            found = provider(session, service=key, start=start, end=end)
            causes = list(found.causes) or ["downtime"] * len(found.bad)
            down += [_Down(b, key, c) for b, c in zip(found.bad, causes, strict=False)]
            covered += list(found.covered)
    return down, covered


def _costs(down: list[_Down], month: Interval) -> list[Cost]:
    minutes: dict[tuple[str, str], float] = defaultdict(float)
    for d in down:
        start, end = max(d.interval.start, month.start), min(d.interval.end, month.end)
        if end > start:
            minutes[(d.cause, d.service)] += (end - start).total_seconds() / 60
    ranked = sorted(minutes.items(), key=lambda item: -item[1])
    return [Cost(cause, service, round(m, 2)) for (cause, service), m in ranked]


def tenant_availability(session: Session, *, tenant: str, months: int) -> TenantReport:
    """The last `months` calendar months (the current one so far) of a tenant."""
    name, services = tenant_services(session, tenant=tenant)
    now = utcnow()
    spans = _months(months, now)
    objectives = [
        slo.objective
        for key in services
        for slo in slo_service.list_slos(session, service=key, limit=1000)
    ]
    objective = max(objectives) if objectives else None
    if not REGISTRY.downtime or not services:
        note = "no incident source is registered" if services else "the tenant uses no service"
        empty = [TenantMonth(m, Counts(0, 0)) for m in spans]
        return TenantReport(tenant, name, services, objective, empty, note)
    down, covered = _downtime(session, services, spans[0].start, now)
    found = []
    for month in spans:
        elapsed = Interval(month.start, min(month.end, now))
        counts = slice_counts(
            elapsed, bad=[d.interval for d in down], covered=covered, seconds=SLICE_S
        )
        found.append(TenantMonth(month, counts, _costs(down, elapsed)))
    return TenantReport(tenant, name, services, objective, found, None)
