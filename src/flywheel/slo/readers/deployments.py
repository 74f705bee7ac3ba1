"""SLI from load-balancer traffic captured during deployments' bakes (events)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from flywheel.deploy import service as deploy_service
from flywheel.slo.sli import ObjectiveKind, ReadContext, Reading, SliSpec
from flywheel.slo.slices import Event, Interval, event_counts

PRODUCTION = "production"


class DeploymentTraffic:
    """Requests and errors of new and old instances while each batch baked, in production.

    A sparse SLI: it sees traffic only while deployments run, which is when changes break
    things; between deployments it has no data rather than assuming success.
    """

    def read(
        self,
        session: Session,
        spec: SliSpec,
        windows: Sequence[Interval],
        context: ReadContext,
    ) -> Reading:
        """Good = requests without errors, total = requests, per window."""
        if spec.kind is ObjectiveKind.LATENCY:
            return Reading.nothing(windows, "deployment traffic carries no latency")
        start = min(w.start for w in windows)
        end = max(w.end for w in windows)
        rows = deploy_service.bake_traffic(
            session, service=spec.service, environment=PRODUCTION, start=start, end=end
        )
        events = [Event(at, requests - errors, requests) for at, requests, errors in rows]
        counts = [event_counts(events, w) for w in windows]
        note = None if events else "no production deployment traffic in the period"
        return Reading(counts, note)
