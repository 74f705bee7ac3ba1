"""What the incident domain gives service levels: P1 downtime, open incidents, alert intake.

Registered into `flywheel.slo.sources` when the app starts (`install`), so the slo domain
never imports this one.

Downtime: a P1 incident on a service means the service was down from detection (the
incident opened) to mitigation. Mitigation is the first rollback requested from the
incident (timeline kind "rollback": the service is back on the version that worked, even
if the incident stays open for follow-up), else its resolution; an incident still open
without a rollback is down until now. A reopened incident counts as down from its first
opening: the reopen means the fault was never really gone.

Burn-rate alerts enter through `intake.receive` like any other source (source "slo"),
labelled with the service so the CMDB sets impact and priority; a rule that stops
firing resolves its alert, and the incident resolves by the intake's usual policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from flywheel.auth.actor import system_actor
from flywheel.config import Settings
from flywheel.db import utcnow
from flywheel.incident import intake, severity
from flywheel.incident.cirules import DEFAULT_RULES, parse_rules
from flywheel.incident.incoming import AlertStatus, Incoming, normalise
from flywheel.incident.intake_views import policy_of
from flywheel.incident.models import Alert, Incident, IncidentEvent
from flywheel.incident.service import OPEN_STATES
from flywheel.slo import sources
from flywheel.slo.slices import Interval
from flywheel.slo.sources import AlertRound, BurnAlert, Downtime

NAME = "incidents"
SOURCE = "slo"
ROLLBACK_KIND = "rollback"
PRIORITIES = (1, 2, 3, 4)
ACTOR = system_actor("slo")


def _rollbacks(session: Session, incident_ids: list[int]) -> dict[int, datetime]:
    """When each incident first asked for a rollback."""
    if not incident_ids:
        return {}
    query = (
        select(IncidentEvent.incident_id, func.min(IncidentEvent.at))
        .where(IncidentEvent.incident_id.in_(incident_ids), IncidentEvent.kind == ROLLBACK_KIND)
        .group_by(IncidentEvent.incident_id)
    )
    return {row[0]: row[1] for row in session.execute(query)}


def p1_downtime(session: Session, *, service: str, start: datetime, end: datetime) -> Downtime:
    """P1 incidents on the service, detection → mitigation, inside [start, end)."""
    now = utcnow()
    covered_end = min(end, now)
    if covered_end <= start:
        return Downtime(bad=[], covered=[])
    query = select(Incident.id, Incident.opened_at, Incident.resolved_at).where(
        Incident.service == service,
        Incident.priority == 1,
        Incident.opened_at < covered_end,
        or_(Incident.resolved_at.is_(None), Incident.resolved_at > start),
    )
    rows = list(session.execute(query.order_by(Incident.opened_at)))
    rollbacks = _rollbacks(session, [row.id for row in rows])
    bad: list[Interval] = []
    causes: list[str] = []
    for incident_id, opened_at, resolved_at in rows:
        mitigated = min(resolved_at or now, rollbacks.get(incident_id, now))
        down_from, down_to = max(opened_at, start), min(mitigated, covered_end)
        if down_to > down_from:
            bad.append(Interval(down_from, down_to))
            causes.append(f"INC{incident_id:07d} P1")
    return Downtime(bad=bad, covered=[Interval(start, covered_end)], causes=causes)


def open_incidents(session: Session) -> dict[str, int]:
    """Open incidents by priority, every priority present (0 when none)."""
    query = (
        select(Incident.priority, func.count())
        .where(Incident.state.in_(OPEN_STATES))
        .group_by(Incident.priority)
    )
    counts = {severity.label(p): 0 for p in PRIORITIES}
    for priority, count in session.execute(query):
        counts[severity.label(priority)] = counts.get(severity.label(priority), 0) + count
    return counts


@dataclass(frozen=True)
class _Firing:
    starts_at: datetime
    labels: dict[str, str]
    annotations: dict[str, str]


def _firing_now(session: Session, fingerprints: Sequence[str]) -> dict[str, _Firing]:
    """The stored burn-rate alerts among these that fire now: since when, and their labels."""
    if not fingerprints:
        return {}
    query = select(Alert.fingerprint, Alert.starts_at, Alert.labels, Alert.annotations).where(
        Alert.fingerprint.in_(list(fingerprints)),
        Alert.source == SOURCE,
        Alert.status == AlertStatus.FIRING.value,
    )
    return {row.fingerprint: _Firing(*row[1:]) for row in session.execute(query)}


def _incoming(
    *,
    fingerprint: str,
    status: AlertStatus,
    labels: dict[str, str],
    annotations: dict[str, str],
    starts_at: datetime,
    now: datetime,
) -> Incoming:
    return normalise(
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=now if status is AlertStatus.RESOLVED else None,
        fingerprint=fingerprint,
        severity=None,
        generator_url=None,
        rules=parse_rules(DEFAULT_RULES),
        now=now,
    )


def _firing(alert: BurnAlert, known: _Firing | None, now: datetime) -> Incoming:
    return _incoming(
        fingerprint=alert.fingerprint,
        status=AlertStatus.FIRING,
        labels=dict(alert.labels),
        annotations={"summary": alert.summary},
        starts_at=known.starts_at if known else now,
        now=now,
    )


def _resolved(fingerprint: str, known: _Firing, now: datetime) -> Incoming:
    return _incoming(
        fingerprint=fingerprint,
        status=AlertStatus.RESOLVED,
        labels=dict(known.labels),
        annotations=dict(known.annotations),
        starts_at=known.starts_at,
        now=now,
    )


def receive_round(session: Session, found: AlertRound, *, settings: Settings) -> None:
    """Firing alerts in (stable start time per alert), quiet ones that were firing resolved."""
    now = found.at
    known = _firing_now(session, [*(a.fingerprint for a in found.firing), *found.quiet])
    batch = [_firing(a, known.get(a.fingerprint), now) for a in found.firing]
    batch += [_resolved(f, known[f], now) for f in found.quiet if f in known]
    if not batch:
        return
    intake.receive(
        session,
        actor=ACTOR,
        source=SOURCE,
        alerts=batch,
        policy=policy_of(settings),
        now=now,
        ci_cache_seconds=settings.incident_ci_cache_seconds,
    )


def install(settings: Settings) -> None:
    """Register P1 downtime, open-incident counts and the burn-rate alert intake."""

    def sink(session: Session, found: AlertRound) -> None:
        receive_round(session, found, settings=settings)

    sources.register_downtime(NAME, p1_downtime)
    sources.register_open_incidents(NAME, open_incidents)
    sources.register_alert_sink(NAME, sink)
