"""SLI from incident downtime: a P1 on the service is down from detection to mitigation."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from flywheel.slo.sli import Method, ObjectiveKind, ReadContext, Reading, SliSpec
from flywheel.slo.slices import Interval, slice_counts
from flywheel.slo.sources import REGISTRY


class IncidentDowntime:
    """Good/total time slices from the downtime the registered providers report."""

    def read(
        self,
        session: Session,
        spec: SliSpec,
        windows: Sequence[Interval],
        context: ReadContext,
    ) -> Reading:
        """Slices per window; no data until an incident provider is registered."""
        if spec.kind is ObjectiveKind.LATENCY:
            return Reading.nothing(windows, "incidents carry no latency")
        if spec.method is not Method.TIME_SLICES:
            return Reading.nothing(windows, "incident downtime is counted in time slices")
        if not REGISTRY.downtime:
            return Reading.nothing(windows, "no incident source is registered")
        start = min(w.start for w in windows)
        end = max(w.end for w in windows)
        bad: list[Interval] = []
        covered: list[Interval] = []
        for provider in REGISTRY.downtime.values():
            found = provider(session, service=spec.service, start=start, end=end)
            bad.extend(found.bad)
            covered.extend(found.covered)
        counts = [
            slice_counts(w, bad=bad, covered=covered, seconds=spec.slice_seconds) for w in windows
        ]
        return Reading(counts, None if covered else "the incident source covers no time yet")
