"""Time-to-delivery decomposed: where each change's time went on its way to customers (pure).

Milestones: first commit authored → change opened → approved (first scheduled) →
deployment started → last batch rolled out → last bake passed (verified healthy). Phases
are the gaps between them: development, approval, queue, rollout, verification. Each
milestone is taken no earlier than the one before it (a commit amended after the change was
opened gives zero development time, not a negative one); a missing milestone takes its
predecessor's time (a run without step records is all rollout, ending when it finished),
and development is unknown without a commit time. Arrays throughout: a report covers
hundreds of thousands of changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PHASES = ("development", "approval", "queue", "rollout", "verification")
WEEK = 7 * 86_400.0
MONDAY = 4 * 86_400.0  # 1970-01-05, the first Monday of the Unix epoch

Floats = np.ndarray[Any, np.dtype[np.float64]]


def _floats(values: Sequence[float | None]) -> Floats:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


@dataclass(frozen=True)
class Journeys:
    """Changes' milestones in Unix seconds, one array each (NaN: not recorded)."""

    change_id: np.ndarray[Any, np.dtype[np.int64]]
    service: np.ndarray[Any, np.dtype[np.str_]]
    committed: Floats
    opened: Floats
    approved: Floats
    started: Floats
    rolled_out: Floats
    verified: Floats
    finished: Floats

    @classmethod
    def of(cls, rows: Sequence[Sequence[Any]]) -> Journeys:
        """From (change id, service, committed, opened, approved, started, rolled out,
        verified, finished) rows."""
        columns = list(zip(*rows, strict=True)) if rows else [()] * 9
        return cls(
            np.array(columns[0], dtype=np.int64),
            np.array(columns[1], dtype=np.str_),
            *(_floats(c) for c in columns[2:]),
        )

    def __len__(self) -> int:
        return int(self.change_id.size)

    def take(self, index: np.ndarray[Any, Any]) -> Journeys:
        """The journeys at these positions (or where a mask is true)."""
        return Journeys(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    def phases(self) -> dict[str, Floats]:
        """Seconds spent in each phase per change (development NaN without a commit time)."""
        verified = np.where(np.isnan(self.verified), self.finished, self.verified)
        rolled_out = np.where(np.isnan(self.rolled_out), verified, self.rolled_out)
        points = [self.opened]
        for point in (self.approved, self.started, rolled_out, verified):
            points.append(np.fmax(points[-1], point))  # fmax: a missing point takes the last
        spans = {
            "development": np.where(
                np.isnan(self.committed), np.nan, np.maximum(0.0, self.opened - self.committed)
            )
        }
        for name, a, b in zip(PHASES[1:], points, points[1:], strict=False):
            spans[name] = b - a
        return spans


@dataclass(frozen=True)
class PhaseStats:
    """One phase over many changes: median, p90, mean and its share of all the time spent."""

    count: int
    median_s: float | None
    p90_s: float | None
    mean_s: float | None
    share: float | None


@dataclass(frozen=True)
class Breakdown:
    """Where the time went for a set of changes."""

    changes: int
    phases: dict[str, PhaseStats]
    total: PhaseStats


def _stats(values: Floats, grand_total: float) -> PhaseStats:
    data = values[~np.isnan(values)]
    n = int(data.size)
    if n == 0:
        return PhaseStats(0, None, None, None, None)
    rank = math.ceil(0.9 * n) - 1
    lower, upper = (n - 1) // 2, n // 2
    ordered = np.partition(data, sorted({lower, upper, rank}))
    total = float(data.sum())
    return PhaseStats(
        n,
        (float(ordered[lower]) + float(ordered[upper])) / 2,
        float(ordered[rank]),
        total / n,
        total / grand_total if grand_total > 0 else None,
    )


def breakdown(journeys: Journeys) -> Breakdown:
    """Phase statistics of the journeys; a phase's share is its part of all the time spent."""
    spans = journeys.phases()
    totals = np.nansum(np.vstack(list(spans.values())), axis=0) if len(journeys) else _floats([])
    grand_total = float(totals.sum())
    phases = {name: _stats(spans[name], grand_total) for name in PHASES}
    return Breakdown(len(journeys), phases, _stats(totals, grand_total))


def groups(keys: np.ndarray[Any, Any]) -> dict[Any, np.ndarray[Any, Any]]:
    """Positions of each distinct key."""
    if keys.size == 0:
        return {}
    distinct, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=distinct.size))[:-1]
    return {k.item(): idx for k, idx in zip(distinct, np.split(order, bounds), strict=True)}


def week_index(moments: Floats) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Monday 00:00 UTC of the week each moment falls in (Unix seconds)."""
    return np.floor((moments - MONDAY) / WEEK) * WEEK + MONDAY


def week_start(moment: float) -> float:
    """Monday 00:00 UTC of the week a moment falls in."""
    return float(week_index(np.array([moment]))[0])


def weeks(since: float, until: float) -> list[float]:
    """Starts of the weeks that overlap [since, until)."""
    first = week_start(since)
    return [first + k * WEEK for k in range(max(0, math.ceil((until - first) / WEEK)))]


def by_week(journeys: Journeys, since: float, until: float) -> list[tuple[float, Journeys]]:
    """Journeys by the week they were delivered in, every week of the period listed."""
    found = groups(week_index(journeys.finished))
    empty = journeys.take(np.zeros(0, dtype=np.int64))
    return [(w, journeys.take(found[w]) if w in found else empty) for w in weeks(since, until)]


@dataclass(frozen=True)
class InFlight:
    """Changes in the pipeline: opened, and when each left (delivered, or ended otherwise)."""

    opened: Floats
    delivered: Floats
    ended: Floats


@dataclass(frozen=True)
class WeekFlow:
    """Changes produced by development vs delivered to customers in one week."""

    week: float
    opened: int
    delivered: int
    ended_undelivered: int
    queue_at_end: int


def _per_week(moments: Floats, starts: list[float]) -> list[int]:
    found = week_index(moments[~np.isnan(moments)])
    values, counts = np.unique(found, return_counts=True)
    table = dict(zip(values.tolist(), counts.tolist(), strict=True))
    return [int(table.get(w, 0)) for w in starts]


def flow(changes: InFlight, since: float, until: float) -> list[WeekFlow]:
    """Opened, delivered and ended-without-delivery per week, and the queue at each week's end."""
    starts = weeks(since, until)

    def inside(moments: Floats) -> Floats:
        return np.where((moments >= since) & (moments < until), moments, np.nan)

    undelivered_end = np.where(np.isnan(changes.delivered), changes.ended, np.nan)
    opened = _per_week(inside(changes.opened), starts)
    delivered = _per_week(inside(changes.delivered), starts)
    dropped = _per_week(inside(undelivered_end), starts)
    gone = np.where(np.isnan(changes.delivered), changes.ended, changes.delivered)
    entered_sorted = np.sort(changes.opened)
    left_sorted = np.sort(np.where(np.isnan(gone), np.inf, gone))
    rows = []
    for i, start in enumerate(starts):
        end = min(start + WEEK, until)
        # In the queue at `end`: opened before it and not gone before it.
        waiting = np.searchsorted(entered_sorted, end) - np.searchsorted(left_sorted, end)
        rows.append(WeekFlow(start, opened[i], delivered[i], dropped[i], int(waiting)))
    return rows
