"""The four keys, time-to-delivery and service levels in words for the console (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flywheel.delivery.schemas import KeysOut, TimeToDeliveryOut

PERIODS = (7, 30, 90, 180, 365)


def duration(seconds: float | None) -> str:
    """A duration as people say it: '12 s', '45 min', '3.2 h', '2.5 d'."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def check_days(days: int) -> int:
    """One of the offered periods; ValueError naming them otherwise."""
    if days not in PERIODS:
        raise ValueError(f"days must be one of {', '.join(str(p) for p in PERIODS)}, not {days}")
    return days


@dataclass(frozen=True)
class KeyCard:
    """One of the four keys as a card: value, its band, and what it is made of."""

    name: str
    value: str
    band: str | None
    detail: str
    trend: str = ""
    better: bool | None = None  # did it get better than the period before?


def _trend(
    now: float | None, before: float | None, *, higher_is_better: bool
) -> tuple[str, bool | None]:
    if now is None or before is None or before == 0:
        return "", None
    change = (now - before) / before
    if abs(change) < 0.005:
        return "unchanged", None
    arrow = "▲" if change > 0 else "▼"
    better = (change > 0) == higher_is_better
    return f"{arrow} {abs(change) * 100:.0f} % vs the period before", better


def key_cards(keys: KeysOut, previous: KeysOut | None = None) -> list[KeyCard]:
    """The four keys of a scope, with trends against the previous period when given."""
    freq, lead = keys.deployment_frequency, keys.lead_time
    fail, rec = keys.change_failure_rate, keys.recovery_time
    old = previous
    cards = [
        (
            "Deployment frequency",
            "—" if freq.per_day is None else f"{freq.per_day:.2f} / day",
            freq.band,
            f"{freq.deployments} successful deployments",
            freq.per_day,
            old.deployment_frequency.per_day if old else None,
            True,
        ),
        (
            "Lead time for changes",
            duration(lead.median_s),
            lead.band,
            f"median of {lead.count} commits; p90 {duration(lead.p90_s)}",
            lead.median_s,
            old.lead_time.median_s if old else None,
            False,
        ),
        (
            "Change failure rate",
            "—" if fail.rate is None else f"{fail.rate * 100:.1f} %",
            fail.band,
            f"{fail.failed} of {fail.deployments} deployments failed",
            fail.rate,
            old.change_failure_rate.rate if old else None,
            False,
        ),
        (
            "Time to restore",
            duration(rec.median_s),
            rec.band,
            f"median of {rec.count} recoveries; {rec.unrecovered} not recovered",
            rec.median_s,
            old.recovery_time.median_s if old else None,
            False,
        ),
    ]
    found = []
    for name, value, band, detail, now, before, higher in cards:
        trend, better = _trend(now, before, higher_is_better=higher)
        found.append(KeyCard(name, value, band, detail, trend, better))
    return found


def ttd_card(now: TimeToDeliveryOut, before: TimeToDeliveryOut | None = None) -> KeyCard:
    """Median time-to-delivery (commit to customers) as a card."""
    total = now.total.total
    old = before.total.total.median_s if before else None
    trend, better = _trend(total.median_s, old, higher_is_better=False)
    detail = f"median of {now.total.changes} changes; p90 {duration(total.p90_s)}"
    return KeyCard("Time to delivery", duration(total.median_s), None, detail, trend, better)


def weekly_means(report: TimeToDeliveryOut) -> list[tuple[datetime, dict[str, float | None]]]:
    """Mean seconds per phase for each week's delivered changes."""
    return [
        (week.week_start, {name: stats.mean_s for name, stats in week.phases.items()})
        for week in report.weekly
    ]


def weekly_flow(report: TimeToDeliveryOut) -> list[tuple[datetime, int, int, int]]:
    """(week, produced, delivered, queue at its end) per week."""
    return [(f.week_start, f.opened, f.delivered, f.queue_at_end) for f in report.flow]


def samples(start: datetime, end: datetime, count: int) -> list[datetime]:
    """`count` moments from start to end, both included."""
    if count < 2 or end <= start:
        return [end]
    step = (end - start) / (count - 1)
    return [start + step * n for n in range(count - 1)] + [end]


def budget_left(remaining: float | None) -> str:
    """Error budget remaining as a share ('—' without data)."""
    return "—" if remaining is None else f"{remaining * 100:.0f} %"


def tone(remaining: float | None) -> str:
    """Tile tone for a budget: spent bad, under a quarter warn."""
    if remaining is None:
        return "neutral"
    if remaining <= 0:
        return "bad"
    return "warn" if remaining < 0.25 else "good"


def period_before(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The period of the same length just before."""
    length: timedelta = until - since
    return since - length, since
