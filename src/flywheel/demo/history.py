"""The scenario's past: 90 days of changes, deployments and incidents, planned in memory (pure).

The plan only says what happened when; `recorder` replays it through the service functions.
Over the period the teams get faster (shorter development and approval waits, more changes),
so the delivery charts show a trend.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flywheel.demo.estate import SERVICES

# Changes per working day at the start of the period (the rate grows by half by its end).
CHANGE_RATE = {
    "storefront": 1.6,
    "cart": 1.1,
    "checkout": 0.9,
    "orders": 0.8,
    "inventory": 0.6,
    "billing": 0.4,
    "marketing": 0.9,
}
OBJECTIVES = {
    "storefront": 99.95,
    "cart": 99.95,
    "checkout": 99.99,
    "orders": 99.9,
    "inventory": 99.9,
    "billing": 99.99,
    "marketing": 99.9,
}
RISKY_SHARE, BAKE_FAULT_SHARE, LATENT_FAULT_SHARE = 0.12, 0.05, 0.025
# Incidents no change caused: a partner or a host fails (about one every five days).
OUTAGES = [
    ("checkout", "PaymentProviderErrors", "PayFast answers 5xx to card payments"),
    ("orders", "MarketplaceSyncStalled", "Marketplace A order sync stalled"),
    ("inventory", "DatabaseSlowQueries", "inventory-db p99 query time above 2 s"),
    ("storefront", "HostDiskFull", "host-00 disk full: storefront instances failing"),
    ("billing", "PaymentProviderErrors", "PayFast settlement API timing out"),
    ("cart", "DatabaseConnectionsExhausted", "cart-db connection pool exhausted"),
]
# Failures that keep coming back (days before the end), so the history holds problems to find:
# the first becomes a problem with its analysis, the second waits as a suggestion.
RECURRING = [(OUTAGES[5], (13.2, 9.6, 5.3, 1.8)), (OUTAGES[3], (11.4, 6.7, 2.9))]


@dataclass(frozen=True)
class IncidentStory:
    """An alert that opened an incident, and how the responders handled it."""

    service: str
    alertname: str
    summary: str
    fired_at: datetime
    acknowledged_at: datetime
    restored_at: datetime
    resolved_at: datetime
    responder: str = "oscar"
    rollback_at: datetime | None = None


@dataclass(frozen=True)
class ChangeStory:
    """One version of a service from its commits to production (and back, if it failed)."""

    service: str
    serial: int
    version: str
    commits: list[tuple[str, datetime]]
    metrics: dict[str, float]
    staged_at: datetime
    opened_at: datetime
    approved_at: datetime | None
    deploy_at: datetime
    rolled_out_at: datetime
    finished_at: datetime
    reviewed_at: datetime
    requests: int
    errors: int
    fault: str = "none"  # none | bake (the bake rolls it back) | latent (an incident later)
    incident: IncidentStory | None = None

    @property
    def settled_at(self) -> datetime:
        """When its story is over but for the review: deployed, or its incident resolved."""
        return self.incident.resolved_at if self.incident else self.finished_at

    @property
    def rolled_back_by_bake(self) -> bool:
        """The bake saw the errors and rolled the run back."""
        return self.fault == "bake"


@dataclass
class History:
    """Everything that happened in the period."""

    changes: list[ChangeStory] = field(default_factory=list)
    outages: list[IncidentStory] = field(default_factory=list)


def _working_moment(rng: random.Random, day: datetime) -> datetime:
    return day + timedelta(hours=rng.uniform(8.5, 18.0))


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(minutes=rng.uniform(low, high))


def _commits(
    rng: random.Random, serial: int, opened: datetime, progress: float
) -> list[tuple[str, datetime]]:
    # Development time shrinks from about four days to about one as the teams speed up.
    span_h = rng.uniform(6, 96) * (1.0 - 0.7 * progress)
    count = rng.randint(1, 6)
    return [
        (
            f"{rng.getrandbits(128):032x}{serial:08x}",
            opened - timedelta(hours=span_h * (count - n) / count + 1.1),  # then CI, staging
        )
        for n in range(count)
    ]


def _metrics(rng: random.Random, risky: bool) -> dict[str, float]:
    if risky:
        return {"la": rng.randint(2000, 6000), "ld": rng.randint(300, 900), "nf": 40, "ndev": 9}
    # Small batches, so that the busiest services' changes stay below high risk.
    return {"la": rng.randint(3, 15), "ld": rng.randint(0, 5), "nf": rng.randint(1, 2)}


def _incident_after(
    rng: random.Random, service: str, alertname: str, summary: str, fired: datetime, down_min: float
) -> IncidentStory:
    acknowledged = fired + _minutes(rng, 1, 12)
    restored = max(acknowledged, fired + timedelta(minutes=down_min))
    return IncidentStory(
        service=service,
        alertname=alertname,
        summary=summary,
        fired_at=fired,
        acknowledged_at=acknowledged,
        restored_at=restored,
        resolved_at=restored + _minutes(rng, 2, 15),
        responder=rng.choice(["oscar", "admin"]),
    )


def _change(
    rng: random.Random, service: str, serial: int, day: datetime, progress: float
) -> ChangeStory:
    opened = _working_moment(rng, day)
    risky = rng.random() < RISKY_SHARE
    roll = rng.random()
    fault = "bake" if roll < BAKE_FAULT_SHARE else "latent" if roll < 0.075 else "none"
    # Held changes wait for a change manager; the wait shortens as trust grows.
    approved = opened + timedelta(hours=rng.uniform(0.5, 20) * (1 - 0.6 * progress))
    ready = approved if risky else opened
    deploy = ready + _minutes(rng, 2, 45)
    rolled_out = deploy + _minutes(rng, 4, 12)
    finished = rolled_out + _minutes(rng, 5, 15 if fault != "bake" else 3)
    # Healthy bakes spend about 40 % of the error budget; each faulty one several percent.
    # Busy services: the live demo's small bakes then leave the budget hours of headroom.
    allowed = 1 - OBJECTIVES[service] / 100
    requests = rng.randint(30_000, 120_000)
    errors = int(requests * allowed * rng.uniform(0, 0.8))
    incident = None
    if fault == "bake":
        requests = rng.randint(15_000, 40_000)
        errors = min(requests, 1 + int(75_000 * allowed * rng.uniform(3, 8)))
        fired = rolled_out + _minutes(rng, 0.5, 2)
        down = (finished - fired).total_seconds() / 60 + rng.uniform(2, 6)
        summary = f"{SERVICES[service][0]} 5xx ratio above 2 % after {service} deploy"
        incident = _incident_after(rng, service, "HighErrorRate", summary, fired, down)
    elif fault == "latent":
        fired = finished + timedelta(hours=rng.uniform(1, 6))
        summary = f"{SERVICES[service][0]} requests failing for some retailers"
        story = _incident_after(rng, service, "ElevatedErrors", summary, fired, rng.uniform(20, 70))
        rollback = story.acknowledged_at + _minutes(rng, 3, 10)
        incident = IncidentStory(**{**story.__dict__, "rollback_at": rollback})
        incident = _restore_after(incident, rollback + _minutes(rng, 8, 14))
    return ChangeStory(
        service=service,
        serial=serial,
        version=f"0.{serial}.0",
        commits=_commits(rng, serial, opened, progress),
        metrics=_metrics(rng, risky),
        staged_at=opened - _minutes(rng, 15, 60),
        opened_at=opened,
        approved_at=approved if risky else None,
        deploy_at=deploy,
        rolled_out_at=rolled_out,
        finished_at=finished,
        reviewed_at=finished + timedelta(hours=rng.uniform(20, 30)),
        requests=requests,
        errors=errors,
        fault=fault,
        incident=incident,
    )


def _restore_after(story: IncidentStory, restored: datetime) -> IncidentStory:
    later = max(story.restored_at, restored)
    return IncidentStory(
        **{**story.__dict__, "restored_at": later, "resolved_at": later + timedelta(minutes=5)}
    )


def plan(end: datetime, *, days: int = 90, seed: int = 10) -> History:
    """What happened in the `days` before `end` (a day's work ends before `end`)."""
    rng = random.Random(seed)
    first = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    history, serials = History(), dict.fromkeys(SERVICES, 0)
    for offset in range(days):
        day = first + timedelta(days=offset)
        progress = offset / max(1, days - 1)
        weekend = day.weekday() >= 5
        for service, rate in CHANGE_RATE.items():
            expected = rate * (1 + 0.5 * progress) * (0.15 if weekend else 1.0)
            for _ in range(_count(rng, expected)):
                serials[service] += 1
                history.changes.append(_change(rng, service, serials[service], day, progress))
        if rng.random() < 0.2:
            service, alertname, summary = rng.choice(OUTAGES)
            fired = day + timedelta(hours=rng.uniform(0, 24))
            down = rng.uniform(15, 90)
            history.outages.append(_incident_after(rng, service, alertname, summary, fired, down))
    history.outages += recurring_outages(end, first, random.Random(seed + 1))
    cutoff = end - timedelta(minutes=30)
    history.changes = [c for c in history.changes if c.settled_at < cutoff]
    history.outages = [o for o in history.outages if o.resolved_at < cutoff]
    return history


def recurring_outages(end: datetime, first: datetime, rng: random.Random) -> list[IncidentStory]:
    """The RECURRING failures that fall inside the period."""
    found = []
    for (service, alertname, summary), days_before in RECURRING:
        for days in days_before:
            fired = end - timedelta(days=days)
            if fired >= first:
                down = rng.uniform(20, 60)
                found.append(_incident_after(rng, service, alertname, summary, fired, down))
    return found


def _count(rng: random.Random, expected: float) -> int:
    """A Poisson-like count with this mean (small means, so a few draws are enough)."""
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)
