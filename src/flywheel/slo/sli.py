"""What an SLI is measured from, and the interface every SLI source implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.orm import Session

from flywheel.config import Settings
from flywheel.slo.budget import NO_COUNTS, Counts
from flywheel.slo.slices import Interval


class SourceKind(StrEnum):
    """Where an SLI's counts come from."""

    DEPLOYMENTS = "deployments"
    INCIDENTS = "incidents"
    PROBES = "probes"
    PROMETHEUS = "prometheus"


class Method(StrEnum):
    """Good/total events, or good/total time slices."""

    EVENTS = "events"
    TIME_SLICES = "time_slices"


class ObjectiveKind(StrEnum):
    """What an objective is about."""

    AVAILABILITY = "availability"
    LATENCY = "latency"


# Which methods each source can count, the first being its default; and which measure latency.
METHODS: dict[SourceKind, tuple[Method, ...]] = {
    SourceKind.DEPLOYMENTS: (Method.EVENTS,),
    SourceKind.INCIDENTS: (Method.TIME_SLICES,),
    SourceKind.PROBES: (Method.EVENTS, Method.TIME_SLICES),
    SourceKind.PROMETHEUS: (Method.EVENTS,),
}
MEASURES_LATENCY = frozenset({SourceKind.PROBES, SourceKind.PROMETHEUS})


@dataclass(frozen=True)
class SliSpec:
    """What to measure: a service, which objective, how to count."""

    service: str
    kind: ObjectiveKind
    method: Method
    slice_seconds: int
    threshold_ms: float | None = None
    prometheus: dict[str, Any] | None = None


@dataclass(frozen=True)
class Reading:
    """Counts per requested window (no counts = no data) and why data is missing, if it is."""

    counts: list[Counts]
    note: str | None = None

    @classmethod
    def nothing(cls, windows: Sequence[Interval], note: str) -> Reading:
        """No data for any window, and why."""
        return cls([NO_COUNTS for _ in windows], note)


@dataclass(frozen=True)
class ReadContext:
    """What a reader may need beyond the database: the settings (Prometheus URL)."""

    settings: Settings
    cache: dict[str, Any] = field(default_factory=dict)


class SliReader(Protocol):
    """Counts good/total for an SLI in each of several windows."""

    def read(
        self,
        session: Session,
        spec: SliSpec,
        windows: Sequence[Interval],
        context: ReadContext,
    ) -> Reading:
        """One Counts per window, in order."""
