"""Compliance periods (rolling days or calendar months) and window durations (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from flywheel.slo.budget import BudgetError
from flywheel.slo.slices import Interval


class WindowKind(StrEnum):
    """How an SLO's compliance period is laid out."""

    ROLLING = "rolling"
    CALENDAR_MONTH = "calendar_month"


@dataclass(frozen=True)
class CompliancePeriod:
    """The period an objective is judged over: so far, and as a whole."""

    elapsed: Interval
    whole: Interval

    @property
    def length(self) -> timedelta:
        """The whole period's length (the budget is defined over it)."""
        return self.whole.end - self.whole.start


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(start: datetime) -> datetime:
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def compliance_period(kind: WindowKind, days: int | None, now: datetime) -> CompliancePeriod:
    """The period in force at `now`: the last N days, or the calendar month (UTC) so far."""
    if kind is WindowKind.CALENDAR_MONTH:
        start = _month_start(now)
        return CompliancePeriod(Interval(start, now), Interval(start, _next_month(start)))
    if days is None or days <= 0:
        raise BudgetError("a rolling window needs a number of days above zero")
    span = Interval(now - timedelta(days=days), now)
    return CompliancePeriod(span, span)


def month_of(moment: datetime) -> Interval:
    """The calendar month (UTC) a moment falls in."""
    start = _month_start(moment)
    return Interval(start, _next_month(start))


_PART = re.compile(r"(\d+)([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_window(text: str) -> timedelta:
    """A window such as 5m, 1h, 6h, 1d, 3d or 1h30m; BudgetError for anything else or zero."""
    cleaned = text.strip().lower()
    parts = _PART.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise BudgetError(f"'{text}' is not a window (e.g. 5m, 1h, 3d)")
    span = timedelta(seconds=sum(int(n) * _UNIT[u] for n, u in parts))
    if span <= timedelta(0):
        raise BudgetError(f"window '{text}' has zero length")
    return span


def format_window(span: timedelta) -> str:
    """The short form of a window (1h, 5m, 3d, 90s)."""
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
