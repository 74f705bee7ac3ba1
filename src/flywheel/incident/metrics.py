"""MTTA and MTTR per service and priority (pure).

MTTA: mean time from opening to the first acknowledgement, over acknowledged incidents.
MTTR: mean time from opening to the (last) resolution, over resolved incidents.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean


@dataclass(frozen=True)
class Times:
    """When one incident opened, was first acknowledged and resolved."""

    service: str
    priority: int
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


@dataclass
class Tally:
    """Response times of a set of incidents."""

    service: str
    priority: str
    incidents: int = 0
    to_acknowledge: list[float] = field(default_factory=list)
    to_resolve: list[float] = field(default_factory=list)

    def add(self, times: Times) -> None:
        """Count one incident."""
        self.incidents += 1
        if times.acknowledged_at is not None:
            self.to_acknowledge.append(_seconds(times.opened_at, times.acknowledged_at))
        if times.resolved_at is not None:
            self.to_resolve.append(_seconds(times.opened_at, times.resolved_at))

    @property
    def mtta_seconds(self) -> float | None:
        """Mean seconds to acknowledge."""
        return round(fmean(self.to_acknowledge), 1) if self.to_acknowledge else None

    @property
    def mttr_seconds(self) -> float | None:
        """Mean seconds to resolve."""
        return round(fmean(self.to_resolve), 1) if self.to_resolve else None


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def tally(rows: Iterable[Times]) -> tuple[Tally, list[Tally]]:
    """The overall tally and one per (service, priority), sorted by service then priority."""
    overall = Tally(service="*", priority="*")
    groups: dict[tuple[str, int], Tally] = defaultdict(lambda: Tally("", ""))
    for row in rows:
        overall.add(row)
        group = groups[(row.service, row.priority)]
        group.service, group.priority = row.service, f"P{row.priority}"
        group.add(row)
    return overall, [groups[k] for k in sorted(groups)]
