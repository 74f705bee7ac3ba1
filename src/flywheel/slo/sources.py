"""What other domains plug into service levels: downtime, probe results, open incidents, alerts.

The incident domain (P1 downtime, open incidents by priority, where burn-rate alerts go) and
the probe runner are separate domains; they register providers here when they load. Until a
provider is registered its SLI source answers "no data", never a made-up 100 %.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from flywheel.slo.slices import Interval


@dataclass(frozen=True)
class Downtime:
    """Where a service was down (bad) and the time the provider can vouch for (covered).

    `causes`, when given, names what caused each bad interval (e.g. "INC0000042 P1"), in
    the same order: the tenant view lists the incidents that cost a tenant its availability.
    """

    bad: Sequence[Interval]
    covered: Sequence[Interval]
    causes: Sequence[str] = ()


@dataclass(frozen=True)
class ProbeResult:
    """One probe of a service: did it answer correctly, and how fast."""

    at: datetime
    ok: bool
    latency_ms: float | None = None


@dataclass(frozen=True)
class BurnAlert:
    """A firing burn-rate alert, for the incident domain to raise like any other alert."""

    fingerprint: str
    service: str
    slo_id: int
    slo_name: str
    objective_kind: str
    severity: str
    burn_rate: float
    long_window: str
    short_window: str
    long_burn: float
    short_burn: float
    summary: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertRound:
    """One evaluation of burn-rate alerts: what fires now, and what was judged not to.

    `quiet` holds the fingerprints of rules that had data and do not fire: a sink resolves
    those it saw firing. Rules without data (an unreachable source) are in neither list, so
    an alert is not resolved merely because its source went silent.
    """

    at: datetime
    firing: Sequence[BurnAlert]
    quiet: Sequence[str] = ()


class DowntimeProvider(Protocol):
    """Downtime of a service in a time range (P1 incidents: detection → mitigation)."""

    def __call__(
        self, session: Session, *, service: str, start: datetime, end: datetime
    ) -> Downtime: ...


class ProbeProvider(Protocol):
    """Probe results of a service in a time range."""

    def __call__(
        self, session: Session, *, service: str, start: datetime, end: datetime
    ) -> Sequence[ProbeResult]: ...


OpenIncidentCounter = Callable[[Session], dict[str, int]]
AlertSink = Callable[[Session, AlertRound], Any]


@dataclass
class Registry:
    """Providers by name; several may register (their answers are combined)."""

    downtime: dict[str, DowntimeProvider] = field(default_factory=dict)
    probes: dict[str, ProbeProvider] = field(default_factory=dict)
    open_incidents: dict[str, OpenIncidentCounter] = field(default_factory=dict)
    alert_sinks: dict[str, AlertSink] = field(default_factory=dict)


REGISTRY = Registry()


def register_downtime(name: str, provider: DowntimeProvider) -> None:
    """Add (or replace) a source of downtime, e.g. the incident domain's P1 incidents."""
    REGISTRY.downtime[name] = provider


def register_probes(name: str, provider: ProbeProvider) -> None:
    """Add (or replace) a source of probe results."""
    REGISTRY.probes[name] = provider


def register_open_incidents(name: str, counter: OpenIncidentCounter) -> None:
    """Add (or replace) a counter of open incidents by priority (for /metrics)."""
    REGISTRY.open_incidents[name] = counter


def register_alert_sink(name: str, sink: AlertSink) -> None:
    """Add (or replace) where each round of burn-rate alerts goes (the incident intake)."""
    REGISTRY.alert_sinks[name] = sink


def snapshot() -> Registry:
    """A copy of what is registered now (tests restore it with `restore`)."""
    return Registry(
        dict(REGISTRY.downtime),
        dict(REGISTRY.probes),
        dict(REGISTRY.open_incidents),
        dict(REGISTRY.alert_sinks),
    )


def restore(saved: Registry) -> None:
    """Make the registry hold exactly what a snapshot held."""
    for table, kept in (
        (REGISTRY.downtime, saved.downtime),
        (REGISTRY.probes, saved.probes),
        (REGISTRY.open_incidents, saved.open_incidents),
        (REGISTRY.alert_sinks, saved.alert_sinks),
    ):
        table.clear()
        table.update(kept)  # type: ignore[arg-type]


def unregister(name: str) -> None:
    """Remove a provider of any kind registered under this name."""
    for table in (
        REGISTRY.downtime,
        REGISTRY.probes,
        REGISTRY.open_incidents,
        REGISTRY.alert_sinks,
    ):
        table.pop(name, None)
