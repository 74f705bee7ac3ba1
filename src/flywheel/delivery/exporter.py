"""`GET /metrics`: delivery metrics and service levels in the Prometheus text format (0.0.4).

Scraping needs a bearer token (a Flywheel API token whose roles may read delivery metrics
and SLOs; in Prometheus: `authorization: {credentials_file: …}`), unless
FLYWHEEL_METRICS_PUBLIC=true serves it openly on a trusted network. A figure without data
is left out rather than reported as zero: an absent series is Prometheus's "no data".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from flywheel.config import Settings
from flywheel.db import utcnow
from flywheel.delivery import service as delivery
from flywheel.deploy import service as deploy_service
from flywheel.slo import service as slo_service
from flywheel.slo.sources import REGISTRY

WINDOW = timedelta(days=30)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = dict[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, labels: Labels, value: float) -> str:
    inside = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return f"{name}{{{inside}}} {value!r}" if inside else f"{name} {value!r}"


@dataclass
class Family:
    """One metric: its help, type and samples."""

    name: str
    kind: str
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)

    def add(self, labels: Labels, value: float | None) -> None:
        """Add a sample; a value of None (no data) is left out."""
        if value is not None:
            self.samples.append((labels, float(value)))

    def render(self) -> Iterable[str]:
        """The family in the text format."""
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in self.samples:
            yield _sample(self.name, labels, value)


def _deployments(session: Session) -> Family:
    family = Family(
        "flywheel_deployments_total", "counter", "Production deployment runs by final state."
    )
    for service, state, count in deploy_service.deployment_counts(session):
        family.add({"service": service, "state": state}, count)
    return family


def _delivery(session: Session) -> list[Family]:
    until = utcnow()
    report = delivery.metrics(session, period=delivery.Period(until - WINDOW, until), services=None)
    days = "Over the last 30 days."
    frequency = Family(
        "flywheel_deployment_frequency_per_day", "gauge", f"Successful deployments a day. {days}"
    )
    lead_median = Family(
        "flywheel_lead_time_median_seconds", "gauge", f"Median commit-to-production. {days}"
    )
    lead_p90 = Family(
        "flywheel_lead_time_p90_seconds", "gauge", f"90th percentile commit-to-production. {days}"
    )
    failure = Family(
        "flywheel_change_failure_ratio", "gauge", f"Failed / finished deployments. {days}"
    )
    recovery = Family(
        "flywheel_failed_deployment_recovery_median_seconds",
        "gauge",
        f"Median failed-deployment recovery time. {days}",
    )
    for key, keys in report.services.items():
        labels = {"service": key}
        frequency.add(labels, keys.per_day)
        lead_median.add(labels, keys.lead_time.median)
        lead_p90.add(labels, keys.lead_time.p90)
        failure.add(labels, keys.failure_rate)
        recovery.add(labels, keys.recovery.median)
    return [frequency, lead_median, lead_p90, failure, recovery]


def _service_levels(session: Session, settings: Settings) -> list[Family]:
    remaining = Family(
        "flywheel_error_budget_remaining_ratio",
        "gauge",
        "Error budget left in the compliance period (1 = untouched, below 0 = overspent).",
    )
    sli = Family("flywheel_sli_ratio", "gauge", "Good / total events or time slices.")
    alerts = Family("flywheel_slo_alerts_firing", "gauge", "Burn-rate alert rules firing.")
    now = utcnow()
    for slo in slo_service.list_slos(session, limit=10_000):
        state = slo_service.evaluate(session, slo=slo, settings=settings, now=now)
        for objective in state.objectives:
            labels = {"service": slo.service, "slo": slo.name, "objective": objective.kind.value}
            budget = objective.budget
            remaining.add(labels, budget.remaining if budget else None)
            sli.add(labels, objective.counts.ratio)
            for severity in ("page", "ticket"):
                firing = sum(
                    1 for a in objective.alerts if a.firing and a.rule.severity == severity
                )
                alerts.add({**labels, "severity": severity}, firing if budget else None)
    return [remaining, sli, alerts]


def _incidents(session: Session) -> Family:
    family = Family("flywheel_open_incidents", "gauge", "Open incidents by priority.")
    totals: dict[str, int] = {}
    for counter in REGISTRY.open_incidents.values():
        for priority, count in counter(session).items():
            totals[priority] = totals.get(priority, 0) + count
    for priority, count in sorted(totals.items()):
        family.add({"priority": priority}, count)
    return family


def render(session: Session, settings: Settings) -> str:
    """Every family, in the text exposition format."""
    families = [
        _deployments(session),
        *_delivery(session),
        *_service_levels(session, settings),
        _incidents(session),
    ]
    return "\n".join(line for f in families for line in f.render()) + "\n"


class CachedText:
    """The last rendering, reused for a few seconds (scrapes are frequent; reports are not)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._text = ""
        self._at = -float("inf")
        self._lock = threading.Lock()

    def get(self, session: Session, settings: Settings) -> str:
        """The cached text, rendered again once it is older than the TTL."""
        with self._lock:
            if time.monotonic() - self._at >= self.ttl_s:
                self._text = render(session, settings)
                self._at = time.monotonic()
            return self._text
