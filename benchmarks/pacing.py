"""Pure parts of an open-loop load generator: send schedules, latency tallies, percentiles.

A paced pipeline sends on a fixed schedule whatever the server does. When an answer comes
late, the next request goes at once and its latency counts from its *scheduled* time (the
correction for coordinated omission that wrk2 makes): otherwise a slow server would slow
the client down and hide its own queueing from the figures.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def pipeline_interval(pipelines: int, rate: float) -> float:
    """Seconds between one pipeline's sends so that all of them together offer `rate`/s."""
    if pipelines < 1 or rate <= 0:
        raise ValueError("pipelines and rate must be positive")
    return pipelines / rate


@dataclass
class Schedule:
    """One pipeline's fixed send times: `first`, then every `interval` seconds."""

    first: float
    interval: float
    taken: int = 0

    @classmethod
    def starting(cls, start: float, interval: float, rng: random.Random) -> Schedule:
        """A schedule whose phase is a random offset in [0, interval) after `start`."""
        return cls(start + rng.random() * interval, interval)

    def due(self) -> float:
        """When the next request is due (multiplied, not summed: no drift over a long run)."""
        return self.first + self.taken * self.interval

    def take(self, now: float) -> tuple[float, bool]:
        """Consume the next slot: its due time and whether `now` is over one interval late."""
        due = self.due()
        self.taken += 1
        return due, now - due > self.interval

    def unsent(self, until: float) -> int:
        """Slots due before `until` that were never taken (the pipeline fell behind)."""
        if until <= self.first:
            return 0
        due_before = math.ceil((until - self.first) / self.interval)
        return max(0, due_before - self.taken)


def latencies_ms(due: float, sent: float, done: float) -> tuple[float, float]:
    """(corrected latency from the scheduled time, service latency from the actual send).

    A timer may wake a little early (uvloop's have millisecond resolution): a request sent
    before its time counts from the send, so the corrected latency is never the smaller.
    """
    return (done - min(due, sent)) * 1000, (done - sent) * 1000


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile of values (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered) - 1e-9))  # 0.07 * 100 is 7.000000000000001
    return round(ordered[min(rank, len(ordered)) - 1], 1)


def latency_summary(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99, max and mean of latencies in ms (None when there are none)."""
    return {
        "p50": percentile(values, 0.50),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": round(max(values), 1) if values else None,
        "mean": round(statistics.fmean(values), 1) if values else None,
    }


@dataclass
class Tally:
    """What the pipelines saw during one phase."""

    latencies_ms: list[float] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    finished_at: list[float] = field(default_factory=list)
    requests: int = 0
    late: int = 0
    unsent: int = 0

    def record(
        self, status: int, body: Any, done: float, latency_ms: float, service_ms: float
    ) -> bool:
        """Count one decision; only auto-approved ones enter the latency figures."""
        if not 200 <= status < 300 or not isinstance(body, dict) or "state" not in body:
            self.errors[str(status)] += 1
            return False
        self.states[body["state"]] += 1
        self.finished_at.append(done)
        if body["state"] == "scheduled":
            self.latencies_ms.append(latency_ms)
            self.service_ms.append(service_ms)
        return True

    @property
    def decisions(self) -> int:
        """2xx decisions of any state."""
        return sum(self.states.values())


def windows(
    finished_at: list[float], began: float, seconds: float, size: float = 10.0
) -> list[float]:
    """Decisions per second in consecutive windows of `size` seconds (the last may be shorter)."""
    counts = Counter(int((t - began) // size) for t in finished_at)
    spans = [min(size, seconds - i * size) for i in range(max(1, math.ceil(seconds / size)))]
    return [round(counts.get(i, 0) / max(span, 1.0), 1) for i, span in enumerate(spans)]


@dataclass(frozen=True)
class Targets:
    """The issue's targets: a rate the server sustains, and p99 latency at that rate."""

    min_rate: float = 300.0
    p99_ms_below: float = 100.0
    min_achieved_share: float = 0.95


def targets_met(
    capacity_rate: float,
    paced_p99_ms: float | None,
    paced_rate: float,
    offered_rate: float,
    errors: int,
    targets: Targets = Targets(),
) -> bool:
    """Capacity reaches the rate, and at the offered rate p99 stays under the bound, no errors."""
    return (
        capacity_rate >= targets.min_rate
        and paced_p99_ms is not None
        and paced_p99_ms < targets.p99_ms_below
        and paced_rate >= targets.min_achieved_share * offered_rate
        and errors == 0
    )
