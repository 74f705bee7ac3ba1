"""Counting good/total events and good/total time slices inside a window (pure).

Time slices are aligned to the Unix epoch: slice k covers [k·s, (k+1)·s). A window holds
the slices that start inside it; a slice is bad when any downtime overlaps it; slices
outside the source's coverage are not counted at all (no data, not good).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flywheel.slo.budget import NO_COUNTS, BudgetError, Counts


@dataclass(frozen=True)
class Interval:
    """A half-open span of time [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise BudgetError(f"an interval cannot end ({self.end}) before it starts")


@dataclass(frozen=True)
class Event:
    """Good and total events observed at one moment (a bake, a probe run, a scrape)."""

    at: datetime
    good: float
    total: float


def event_counts(events: Iterable[Event], window: Interval) -> Counts:
    """The events observed in [start, end) added up."""
    counts = NO_COUNTS
    for event in events:
        if window.start <= event.at < window.end:
            counts = counts + Counts(event.good, event.total)
    return counts


Span = tuple[int, int]  # slice indexes [first, last)


def _starting_in(interval: Interval, seconds: int) -> Span:
    """Slices whose start lies in the interval."""
    first = math.ceil(interval.start.timestamp() / seconds)
    return first, max(first, math.ceil(interval.end.timestamp() / seconds))


def _touching(interval: Interval, seconds: int) -> Span:
    """Slices that overlap the interval for some positive time."""
    start, end = interval.start.timestamp(), interval.end.timestamp()
    if end <= start:
        return 0, 0
    return math.floor(start / seconds), math.ceil(end / seconds)


def _merged(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for first, last in sorted(s for s in spans if s[1] > s[0]):
        if out and first <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def _intersect(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        first, last = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if first < last:
            out.append((first, last))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _size(spans: Iterable[Span]) -> int:
    return sum(last - first for first, last in spans)


def slice_counts(
    window: Interval,
    *,
    bad: Iterable[Interval],
    covered: Iterable[Interval],
    seconds: int,
) -> Counts:
    """Good/total time slices of `seconds` in the window, within the source's coverage."""
    if seconds <= 0:
        raise BudgetError("a time slice must be longer than zero")
    counted = _intersect(
        [_starting_in(window, seconds)], _merged(_starting_in(c, seconds) for c in covered)
    )
    bad_slices = _size(_intersect(counted, _merged(_touching(b, seconds) for b in bad)))
    total = _size(counted)
    return Counts(total - bad_slices, total)


def slice_seconds_total(window: Interval, seconds: int) -> int:
    """How many slices start inside a window (the planned total of a whole period)."""
    first, last = _starting_in(window, seconds)
    return last - first


def events_as_slices(events: Iterable[Event], window: Interval, *, seconds: int) -> Counts:
    """Time slices from events: a slice with events is bad if any event in it was bad."""
    verdicts: dict[int, bool] = {}
    for event in events:
        if window.start <= event.at < window.end and event.total > 0:
            k = math.floor(event.at.timestamp() / seconds)
            verdicts[k] = verdicts.get(k, True) and event.good >= event.total
    total = len(verdicts)
    return Counts(sum(verdicts.values()), total)
