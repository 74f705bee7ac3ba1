"""Time-to-delivery decomposed: where each change's time went on its way to customers (pure).

Milestones: first commit authored → change opened → approved (first scheduled) →
deployment started → last batch rolled out → last bake passed (verified healthy). Phases
are the gaps between them: development, approval, queue, rollout, verification. Each
milestone is taken no earlier than the one before it (a commit amended after the change was
opened gives zero development time, not a negative one); a missing milestone takes its
predecessor's time, and development is unknown without a commit time.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

PHASES = ("development", "approval", "queue", "rollout", "verification")
WEEK = 7 * 86_400.0


@dataclass(frozen=True, slots=True)
class Journey:
    """One change's milestones in Unix seconds (None: not recorded)."""

    change_id: int
    service: str
    committed: float | None
    opened: float
    approved: float | None
    started: float
    rolled_out: float | None
    verified: float | None
    finished: float

    def phases(self) -> dict[str, float | None]:
        """Seconds spent in each phase (development None without a commit time)."""
        verified = self.verified if self.verified is not None else self.finished
        rolled_out = self.rolled_out if self.rolled_out is not None else verified
        points = [self.opened, self.approved, self.started, rolled_out, verified]
        clamped: list[float] = []
        for point in points:
            previous = clamped[-1] if clamped else -math.inf
            clamped.append(max(previous, point if point is not None else previous))
        spans: dict[str, float | None] = {
            "development": None
            if self.committed is None
            else max(0.0, self.opened - self.committed),
        }
        for name, (a, b) in zip(PHASES[1:], itertools.pairwise(clamped), strict=True):
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


def _stats(values: Sequence[float], grand_total: float) -> PhaseStats:
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return PhaseStats(0, None, None, None, None)
    rank = math.ceil(0.9 * data.size) - 1
    share = float(data.sum()) / grand_total if grand_total > 0 else None
    return PhaseStats(
        int(data.size),
        float(np.median(data)),
        float(np.sort(data)[rank]),
        float(data.mean()),
        share,
    )


def breakdown(journeys: Sequence[Journey]) -> Breakdown:
    """Phase statistics of the journeys; a phase's share is its part of all the time spent."""
    spans = [j.phases() for j in journeys]
    totals = [sum(v for v in s.values() if v is not None) for s in spans]
    grand_total = float(sum(totals))
    phases = {
        name: _stats([v for s in spans if (v := s[name]) is not None], grand_total)
        for name in PHASES
    }
    return Breakdown(len(journeys), phases, _stats(totals, grand_total))


def week_start(moment: float) -> float:
    """Monday 00:00 UTC of the week a moment falls in, as Unix seconds."""
    day = datetime.fromtimestamp(moment, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day - timedelta(days=day.weekday())).timestamp()


def weeks(since: float, until: float) -> list[float]:
    """Starts of the weeks that overlap [since, until)."""
    starts, at = [], week_start(since)
    while at < until:
        starts.append(at)
        at += WEEK
    return starts


def by_week(journeys: Iterable[Journey], since: float, until: float) -> dict[float, list[Journey]]:
    """Journeys grouped by the week they were delivered in."""
    grouped: dict[float, list[Journey]] = {w: [] for w in weeks(since, until)}
    for journey in journeys:
        grouped.setdefault(week_start(journey.finished), []).append(journey)
    return grouped


@dataclass(frozen=True, slots=True)
class InFlight:
    """A change in the pipeline: opened, and when it left (delivered or ended otherwise)."""

    opened: float
    delivered: float | None
    ended: float | None


@dataclass(frozen=True)
class WeekFlow:
    """Changes produced by development vs delivered to customers in one week."""

    week: float
    opened: int
    delivered: int
    ended_undelivered: int
    queue_at_end: int


def flow(changes: Iterable[InFlight], since: float, until: float) -> list[WeekFlow]:
    """Opened, delivered and ended-without-delivery per week, and the queue at each week's end."""
    starts = weeks(since, until)
    opened: dict[float, int] = defaultdict(int)
    delivered: dict[float, int] = defaultdict(int)
    dropped: dict[float, int] = defaultdict(int)
    entered, left = [], []
    for change in changes:
        if change.opened >= since:
            opened[week_start(change.opened)] += 1
        if change.delivered is not None and since <= change.delivered < until:
            delivered[week_start(change.delivered)] += 1
        elif (
            change.delivered is None and change.ended is not None and since <= change.ended < until
        ):
            dropped[week_start(change.ended)] += 1
        entered.append(change.opened)
        gone = change.delivered if change.delivered is not None else change.ended
        left.append(math.inf if gone is None else gone)
    entered_sorted, left_sorted = np.sort(entered), np.sort(left)
    rows = []
    for start in starts:
        end = min(start + WEEK, until)
        # In the queue at `end`: opened before it and not gone before it.
        inside = np.searchsorted(entered_sorted, end) - np.searchsorted(left_sorted, end)
        rows.append(WeekFlow(start, opened[start], delivered[start], dropped[start], int(inside)))
    return rows
