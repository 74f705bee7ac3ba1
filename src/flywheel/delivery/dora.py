"""The four keys from deployment records (pure).

Definitions (documented in docs/delivery.md):
- deployment frequency: successful production deployments (rollback runs excluded) per day;
- lead time for changes: per commit, its change's first successful production deployment's
  finish minus the commit's authoring time (positive differences only); median and p90;
- change failure rate: production deployments with a failure signal / finished production
  deployments (rollback runs excluded);
- failed deployment recovery time: from the failed deployment's start to the moment
  service was restored; median and p90 over the failures that recovered.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

FAILED_CODES = frozenset({"failed", "rolled_back"})
FAILED_STATES = frozenset({"rolled_back", "failed"})


@dataclass(frozen=True, slots=True)
class Run:
    """A finished production deployment (not a rollback run); times in Unix seconds."""

    id: int
    service: str
    state: str
    change_id: int | None
    started: float
    finished: float
    close_code: str | None = None


@dataclass(frozen=True)
class Spread:
    """Median and 90th percentile (nearest rank) of some durations, in seconds."""

    count: int
    median: float | None
    p90: float | None


def spread(values: Sequence[float] | np.ndarray) -> Spread:
    """Median (middle value, or mean of the two middle ones) and nearest-rank p90."""
    data = np.asarray(values, dtype=float)
    n = int(data.size)
    if n == 0:
        return Spread(0, None, None)
    rank = math.ceil(0.9 * n) - 1
    upper, lower = (n // 2, (n - 1) // 2)
    picked = np.partition(data, sorted({lower, upper, rank}))
    median = (float(picked[lower]) + float(picked[upper])) / 2
    return Spread(n, median, float(picked[rank]))


def _next_success(runs: Sequence[Run]) -> dict[int, float]:
    """For each run, when the next successful run of its service finished (if any)."""
    following: dict[int, float] = {}
    by_service: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_service[run.service].append(run)
    for service_runs in by_service.values():
        next_ok: float | None = None
        for run in sorted(service_runs, key=lambda r: (r.finished, r.id), reverse=True):
            if next_ok is not None:
                following[run.id] = next_ok
            if run.state == "succeeded":
                next_ok = run.finished
    return following


def failures(
    runs: Sequence[Run],
    *,
    rollbacks: Mapping[int, float | None],
    linked: Mapping[int, float | None],
) -> dict[int, float | None]:
    """Failed runs with when service was restored (None: not yet).

    A run failed when it rolled back or failed itself; when a rollback run was started for
    it later; when a failure (incident) is linked to it; or when its change was closed
    failed/rolled back and it was the change's only run. Restored: its own rollback's end,
    the rollback run's end, the incident's recovery, else the service's next successful run.
    """
    runs_per_change: dict[int, int] = defaultdict(int)
    for run in runs:
        if run.change_id is not None:
            runs_per_change[run.change_id] += 1
    following = _next_success(runs)
    found: dict[int, float | None] = {}
    for run in runs:
        restored: float | None
        if run.state in FAILED_STATES:
            restored = run.finished if run.state == "rolled_back" else following.get(run.id)
        elif run.id in rollbacks:
            restored = rollbacks[run.id]
        elif run.id in linked:
            restored = linked[run.id]
        elif (
            run.close_code in FAILED_CODES
            and run.change_id is not None
            and runs_per_change[run.change_id] == 1
        ):
            restored = None
        else:
            continue
        found[run.id] = restored if restored is not None else following.get(run.id)
    return found


@dataclass(frozen=True)
class Keys:
    """The four keys of a group of services over a period."""

    days: float
    deployments: int
    finished: int
    failed: int
    lead_time: Spread
    recovery: Spread
    unrecovered: int

    @property
    def per_day(self) -> float | None:
        """Successful deployments per day (None without any deployment)."""
        return self.deployments / self.days if self.finished else None

    @property
    def failure_rate(self) -> float | None:
        """Failed / finished deployments (None without any)."""
        return self.failed / self.finished if self.finished else None


def keys(
    runs: Iterable[Run],
    lead_time: Spread,
    failed: Mapping[int, float | None],
    *,
    days: float,
) -> Keys:
    """The four keys of some runs, with the lead time of their commits."""
    chosen = list(runs)
    recoveries = [
        max(0.0, restored - run.started)
        for run in chosen
        if run.id in failed and (restored := failed[run.id]) is not None
    ]
    failed_here = sum(1 for run in chosen if run.id in failed)
    return Keys(
        days=days,
        deployments=sum(1 for run in chosen if run.state == "succeeded"),
        finished=len(chosen),
        failed=failed_here,
        lead_time=lead_time,
        recovery=spread(recoveries),
        unrecovered=failed_here - len(recoveries),
    )
