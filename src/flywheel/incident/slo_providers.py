"""What the incident domain gives service levels and delivery metrics.

P1 downtime, open incidents by priority and the burn-rate alert intake (into
`flywheel.slo.sources`), and failures linked to deployments (into
`flywheel.delivery.sources`), registered when the app starts (`install`), so neither of
those domains imports this one.

Downtime: a P1 incident on a service means the service was down from detection (the
incident opened) to mitigation. Mitigation is the first rollback requested from the
incident (timeline kind "rollback": the service is back on the version that worked, even
if the incident stays open for follow-up), else its resolution; an incident still open
without a rollback is down until now. A reopened incident counts as down from its first
opening: the reopen means the fault was never really gone.

A linked failure is an incident linked to a change (`link.change`, also made when a change
is confirmed as the cause): the change's last production run that finished before the
incident opened failed, detected when the incident opened, recovered at its mitigation.

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
from flywheel.change import service as change_service
from flywheel.config import Settings
from flywheel.db import utcnow
from flywheel.delivery import sources as delivery_sources
from flywheel.delivery.sources import LinkedFailure
from flywheel.deploy import service as deploy_service
from flywheel.errors import NotFound
from flywheel.incident import intake, severity
from flywheel.incident.cirules import DEFAULT_RULES, parse_rules
from flywheel.incident.incoming import AlertStatus, Incoming, normalise
from flywheel.incident.intake_views import policy_of
from flywheel.incident.models import Alert, Incident, IncidentEvent, IncidentLink
from flywheel.incident.service import OPEN_STATES
from flywheel.slo import sources
from flywheel.slo.slices import Interval
from flywheel.slo.sources import AlertRound, BurnAlert, Downtime

NAME = "incidents"
SOURCE = "slo"
ROLLBACK_KIND = "rollback"
PRODUCTION = "production"
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


def _mitigated(
    resolved_at: datetime | None, rollback_at: datetime | None, now: datetime
) -> datetime:
    """The first rollback, else the resolution, else (still open) now."""
    return min(resolved_at or now, rollback_at or now)


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
        mitigated = _mitigated(resolved_at, rollbacks.get(incident_id), now)
        down_from, down_to = max(opened_at, start), min(mitigated, covered_end)
        if down_to > down_from:
            bad.append(Interval(down_from, down_to))
            causes.append(f"INC{incident_id:07d} P1")
    return Downtime(bad=bad, covered=[Interval(start, covered_end)], causes=causes)


def _change_id(ref: str) -> int | None:
    digits = ref.removeprefix("CHG")
    return int(digits) if ref.startswith("CHG") and digits.isdigit() else None


def _failed_run(
    session: Session, change_id: int, detected: datetime, start: datetime, end: datetime
) -> int | None:
    """The change's last production run that finished in [start, end) before detection."""
    try:
        change = change_service.get_change(session, change_id=change_id)
    except NotFound:
        return None
    runs = deploy_service.started_between(
        session, services=[change.service], start=start, end=min(detected, end)
    )
    finished = [
        run
        for run in runs
        if run.change_id == change_id
        and run.environment == PRODUCTION
        and run.rollback_of is None
        and run.finished_at is not None
        and start <= run.finished_at < end
        and run.finished_at <= detected
    ]
    return max(finished, key=lambda r: (r.finished_at, r.id)).id if finished else None


def linked_failures(session: Session, *, start: datetime, end: datetime) -> list[LinkedFailure]:
    """Incidents linked to changes, as failures of the change's run finished in [start, end)."""
    query = (
        select(IncidentLink.ref, Incident.id, Incident.opened_at, Incident.resolved_at)
        .join(Incident, Incident.id == IncidentLink.incident_id)
        .where(IncidentLink.kind == "change", Incident.opened_at >= start)
        .order_by(Incident.opened_at)
    )
    rows = list(session.execute(query))
    rollbacks = _rollbacks(session, sorted({row.id for row in rows}))
    now = utcnow()
    found = []
    for ref, incident_id, opened_at, resolved_at in rows:
        change_id = _change_id(ref)
        run = _failed_run(session, change_id, opened_at, start, end) if change_id else None
        if run is not None:
            recovered = _mitigated(resolved_at, rollbacks.get(incident_id), now)
            found.append(LinkedFailure(run, opened_at, None if recovered >= now else recovered))
    return found


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
    """Register P1 downtime, open-incident counts, the alert intake and linked failures."""

    def sink(session: Session, found: AlertRound) -> None:
        receive_round(session, found, settings=settings)

    delivery_sources.register_failures(NAME, linked_failures)
    sources.register_downtime(NAME, p1_downtime)
    sources.register_open_incidents(NAME, open_incidents)
    sources.register_alert_sink(NAME, sink)
