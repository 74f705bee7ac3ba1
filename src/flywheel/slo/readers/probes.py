"""SLI from probe results (Flywheel's own HTTP probes, registered by the probe runner)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from flywheel.slo.sli import Method, ObjectiveKind, ReadContext, Reading, SliSpec
from flywheel.slo.slices import Event, Interval, event_counts, events_as_slices
from flywheel.slo.sources import REGISTRY, ProbeResult


def _event(result: ProbeResult, spec: SliSpec) -> Event:
    if spec.kind is ObjectiveKind.LATENCY:
        fast = (
            result.ok
            and result.latency_ms is not None
            and spec.threshold_ms is not None
            and result.latency_ms <= spec.threshold_ms
        )
        return Event(result.at, float(fast), 1.0)
    return Event(result.at, float(result.ok), 1.0)


class ProbeResults:
    """Each probe is an event (good when it answered, or answered fast enough)."""

    def read(
        self,
        session: Session,
        spec: SliSpec,
        windows: Sequence[Interval],
        context: ReadContext,
    ) -> Reading:
        """Events or time slices per window; no data until a probe provider is registered."""
        if not REGISTRY.probes:
            return Reading.nothing(windows, "no probe source is registered")
        start = min(w.start for w in windows)
        end = max(w.end for w in windows)
        events = [
            _event(result, spec)
            for provider in REGISTRY.probes.values()
            for result in provider(session, service=spec.service, start=start, end=end)
        ]
        if spec.method is Method.TIME_SLICES:
            counts = [events_as_slices(events, w, seconds=spec.slice_seconds) for w in windows]
        else:
            counts = [event_counts(events, w) for w in windows]
        return Reading(counts, None if events else "no probe results in the period")
