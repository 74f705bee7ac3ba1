"""Problem measures (pure): recurrence rate, time to root cause, time to fix, by category."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean


@dataclass(frozen=True)
class ProblemTimes:
    """What the measures read off one problem."""

    category: str | None
    created_at: datetime
    root_cause_at: datetime | None
    resolved_at: datetime | None
    closed_as_fixed_at: datetime | None
    reopen_count: int


@dataclass(frozen=True)
class Measure:
    """Measures of a set of problems."""

    category: str
    problems: int
    resolved: int
    reopened: int
    recurrence_rate: float | None
    mean_time_to_root_cause_s: float | None
    mean_time_to_fix_s: float | None


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 1) if values else None


def measure(category: str, rows: list[ProblemTimes]) -> Measure:
    """Measures of these problems; recurrence rate is reopened / ever fixed."""
    fixed_at = [r.resolved_at or r.closed_as_fixed_at for r in rows]
    ever_fixed = [r for r, at in zip(rows, fixed_at, strict=True) if at or r.reopen_count]
    reopened = sum(1 for r in rows if r.reopen_count)
    to_rca = [(r.root_cause_at - r.created_at).total_seconds() for r in rows if r.root_cause_at]
    to_fix = [
        (at - r.created_at).total_seconds() for r, at in zip(rows, fixed_at, strict=True) if at
    ]
    return Measure(
        category=category,
        problems=len(rows),
        resolved=sum(1 for at in fixed_at if at),
        reopened=reopened,
        recurrence_rate=round(reopened / len(ever_fixed), 4) if ever_fixed else None,
        mean_time_to_root_cause_s=_mean(to_rca),
        mean_time_to_fix_s=_mean(to_fix),
    )


def by_category(rows: Iterable[ProblemTimes]) -> tuple[Measure, list[Measure]]:
    """Overall measures and one per root-cause category ('unknown' when not recorded)."""
    every = list(rows)
    groups: dict[str, list[ProblemTimes]] = defaultdict(list)
    for row in every:
        groups[row.category or "unknown"].append(row)
    return measure("all", every), [measure(k, v) for k, v in sorted(groups.items())]
