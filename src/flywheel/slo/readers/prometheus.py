"""SLI from PromQL: a good-events and a total-events query, evaluated per window."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from flywheel.slo.budget import NO_COUNTS, Counts
from flywheel.slo.prometheus import PrometheusClient, PrometheusUnavailable, with_window
from flywheel.slo.sli import ObjectiveKind, ReadContext, Reading, SliSpec
from flywheel.slo.slices import Interval
from flywheel.slo.windows import format_window


def _queries(spec: SliSpec) -> tuple[str, str] | None:
    config = spec.prometheus or {}
    if spec.kind is ObjectiveKind.LATENCY:
        good = config.get("latency_good")
        total = config.get("latency_total") or config.get("total")
    else:
        good, total = config.get("good"), config.get("total")
    return (str(good), str(total)) if good and total else None


def _counts(client: PrometheusClient, queries: tuple[str, str], window: Interval) -> Counts:
    span = format_window(window.end - window.start)
    good = client.scalar(with_window(queries[0], span), window.end)
    total = client.scalar(with_window(queries[1], span), window.end)
    if good is None or total is None or total <= 0:
        return NO_COUNTS
    if good < 0 or good > total * (1 + 1e-9):
        raise PrometheusUnavailable(f"good ({good:g}) is not between 0 and total ({total:g})")
    return Counts(min(good, total), total)


class PrometheusQueries:
    """Counts from `sum(increase(...[$window]))`-style queries; unreachable means no data."""

    def read(
        self,
        session: Session,
        spec: SliSpec,
        windows: Sequence[Interval],
        context: ReadContext,
    ) -> Reading:
        """Two instant queries per window, at the window's end."""
        settings = context.settings
        if not settings.prometheus_url:
            return Reading.nothing(windows, "no Prometheus configured (FLYWHEEL_PROMETHEUS_URL)")
        queries = _queries(spec)
        if queries is None:
            return Reading.nothing(windows, f"no PromQL queries for {spec.kind.value}")
        client = PrometheusClient(settings.prometheus_url, timeout_s=settings.prometheus_timeout_s)
        try:
            counts = [_counts(client, queries, w) for w in windows]
        except PrometheusUnavailable as exc:
            return Reading.nothing(windows, str(exc))
        finally:
            client.close()
        note = None if any(c.has_data for c in counts) else "Prometheus returned no samples"
        return Reading(counts, note)
