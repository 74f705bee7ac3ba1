"""Incidents: list and read them, acknowledge, resolve, reopen, annotate and link them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.change import service as change_service
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput, NotFound, StaleVersion
from flywheel.incident import metrics, severity
from flywheel.incident.grouping import IncidentState
from flywheel.incident.models import Alert, Incident, IncidentEvent, IncidentLink

OPEN_STATES = (IncidentState.TRIGGERED.value, IncidentState.ACKNOWLEDGED.value)


def list_incidents(
    session: Session,
    *,
    state: str | None = None,
    priority: int | None = None,
    service: str | None = None,
    cursor: int | None = None,
    limit: int = 100,
    newest_first: bool = True,
) -> list[Incident]:
    """Incidents, newest first by default; state 'open' means triggered or acknowledged."""
    query = select(Incident)
    if state == "open":
        query = query.where(Incident.state.in_(OPEN_STATES))
    elif state:
        query = query.where(Incident.state == state)
    if priority is not None:
        query = query.where(Incident.priority == priority)
    if service:
        query = query.where(Incident.service == service)
    if cursor is not None:
        query = query.where(Incident.id < cursor if newest_first else Incident.id > cursor)
    order = Incident.id.desc() if newest_first else Incident.id
    return list(session.scalars(query.order_by(order).limit(limit)))


def get_incident(session: Session, *, incident_id: int, lock: bool = False) -> Incident:
    """An incident by id (locked for update when asked), or NotFound."""
    query = select(Incident).where(Incident.id == incident_id)
    found = session.scalar(query.with_for_update(key_share=True) if lock else query)
    if found is None:
        raise NotFound(f"no incident {incident_id}")
    return found


def alerts_of(session: Session, *, incident_id: int, limit: int = 500) -> list[Alert]:
    """The incident's alerts, most recently seen first."""
    query = select(Alert).where(Alert.incident_id == incident_id)
    return list(session.scalars(query.order_by(Alert.last_seen.desc(), Alert.id).limit(limit)))


def timeline(session: Session, *, incident_id: int, limit: int = 2000) -> list[IncidentEvent]:
    """The incident's timeline in order."""
    query = select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
    return list(session.scalars(query.order_by(IncidentEvent.id).limit(limit)))


def links_of(session: Session, *, incident_id: int) -> list[IncidentLink]:
    """What the incident is linked to, in the order the links were made."""
    query = select(IncidentLink).where(IncidentLink.incident_id == incident_id)
    return list(session.scalars(query.order_by(IncidentLink.id)))


def add_event(
    session: Session,
    incident: Incident,
    *,
    kind: str,
    actor: Actor,
    summary: str,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> IncidentEvent:
    """Append a timeline entry; `kind` is any dotted name (notifications, suspects, …)."""
    event = IncidentEvent(
        incident_id=incident.id,
        at=at or utcnow(),
        kind=kind,
        actor=actor.name,
        summary=summary,
        data=data,
    )
    session.add(event)
    return event


def _summary(incident: Incident) -> dict[str, Any]:
    return {
        "state": incident.state,
        "priority": severity.label(incident.priority),
        "service": incident.service,
    }


def _for_update(session: Session, incident_id: int, version: int) -> Incident:
    incident = get_incident(session, incident_id=incident_id, lock=True)
    if incident.version != version:
        raise StaleVersion(
            f"{incident.number} is at version {incident.version}, not {version}: reload and retry",
            details={"current_version": incident.version},
        )
    return incident


_TIMELINE_KIND = {
    IncidentState.ACKNOWLEDGED: "acknowledged",
    IncidentState.RESOLVED: "resolved",
    IncidentState.TRIGGERED: "reopened",
}


def _move(
    session: Session,
    incident: Incident,
    target: IncidentState,
    *,
    actor: Actor,
    action: str,
    summary: str,
    note: str,
) -> Incident:
    """Change state, with its timeline entry and audit event."""
    before = _summary(incident)
    now = utcnow()
    incident.state = target.value
    incident.updated_at = now
    kind = _TIMELINE_KIND[target]
    add_event(session, incident, kind=kind, actor=actor, summary=summary, at=now)
    if note:
        add_event(session, incident, kind="note", actor=actor, summary=note, at=now)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"incident.{action}",
        object_type="incident",
        object_id=incident.number,
        before=before,
        after=_summary(incident),
        reason=note or None,
    )
    return incident


def acknowledge(
    session: Session, *, actor: Actor, incident_id: int, version: int, note: str = ""
) -> Incident:
    """Someone is on it: triggered → acknowledged."""
    incident = _for_update(session, incident_id, version)
    if incident.state == IncidentState.ACKNOWLEDGED.value:
        raise Conflict(f"{incident.number} is already acknowledged by {incident.acknowledged_by}")
    if incident.state == IncidentState.RESOLVED.value:
        raise Conflict(f"{incident.number} is resolved: reopen it first")
    if incident.acknowledged_at is None:
        incident.acknowledged_at = utcnow()
    incident.acknowledged_by = actor.name
    summary = f"acknowledged by {actor.name}"
    return _move(
        session,
        incident,
        IncidentState.ACKNOWLEDGED,
        actor=actor,
        action="acknowledge",
        summary=summary,
        note=note,
    )


def resolve(
    session: Session, *, actor: Actor, incident_id: int, version: int, note: str = ""
) -> Incident:
    """The service is restored: → resolved (flapping ends with it)."""
    incident = _for_update(session, incident_id, version)
    if incident.state == IncidentState.RESOLVED.value:
        raise Conflict(f"{incident.number} is already resolved by {incident.resolved_by}")
    incident.resolved_at, incident.resolved_by = utcnow(), actor.name
    incident.flapping = False
    return _move(
        session,
        incident,
        IncidentState.RESOLVED,
        actor=actor,
        action="resolve",
        summary=f"resolved by {actor.name}",
        note=note,
    )


def reopen(
    session: Session, *, actor: Actor, incident_id: int, version: int, reason: str
) -> Incident:
    """It is not over: resolved → triggered."""
    incident = _for_update(session, incident_id, version)
    if incident.state != IncidentState.RESOLVED.value:
        raise Conflict(f"{incident.number} is {incident.state}, not resolved")
    incident.resolved_at = incident.resolved_by = None
    incident.reopen_count += 1
    return _move(
        session,
        incident,
        IncidentState.TRIGGERED,
        actor=actor,
        action="reopen",
        summary=f"reopened by {actor.name}: {reason}",
        note="",
    )


def add_note(session: Session, *, actor: Actor, incident_id: int, text: str) -> IncidentEvent:
    """A note on the timeline."""
    incident = get_incident(session, incident_id=incident_id)
    event = add_event(session, incident, kind="note", actor=actor, summary=text)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="incident.note",
        object_type="incident",
        object_id=incident.number,
        after={"note": text[:500]},
    )
    return event


def link_change(
    session: Session, *, actor: Actor, incident_id: int, change_id: int, note: str = ""
) -> IncidentLink:
    """Link a change (say, the one that caused it) to the incident."""
    incident = get_incident(session, incident_id=incident_id)
    try:
        change = change_service.get_change(session, change_id=change_id)
    except NotFound as exc:
        raise InvalidInput(f"cannot link: {exc.message}") from exc
    existing = session.scalar(
        select(IncidentLink.id).where(
            IncidentLink.incident_id == incident.id,
            IncidentLink.kind == "change",
            IncidentLink.ref == change.number,
        )
    )
    if existing is not None:
        raise Conflict(f"{incident.number} is already linked to {change.number}")
    link = IncidentLink(
        incident_id=incident.id, kind="change", ref=change.number, note=note, created_by=actor.name
    )
    session.add(link)
    summary = f"linked {change.number} ({change.service}: {change.title})"
    data = {"change": change.number, "change_id": change.id, "note": note}
    add_event(session, incident, kind="link.change", actor=actor, summary=summary, data=data)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="incident.link",
        object_type="incident",
        object_id=incident.number,
        after={"change": change.number, "note": note[:500]},
    )
    return link


def response_metrics(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    service: str | None = None,
) -> tuple[metrics.Tally, list[metrics.Tally]]:
    """MTTA and MTTR of incidents opened in [since, until), per service and priority."""
    query = select(
        Incident.service,
        Incident.priority,
        Incident.opened_at,
        Incident.acknowledged_at,
        Incident.resolved_at,
    )
    if since is not None:
        query = query.where(Incident.opened_at >= since)
    if until is not None:
        query = query.where(Incident.opened_at < until)
    if service:
        query = query.where(Incident.service == service)
    rows = session.execute(query.execution_options(yield_per=10_000))
    return metrics.tally(metrics.Times(*row) for row in rows)


def open_incidents_on(
    session: Session, *, services: list[str], max_priority: int = 4
) -> list[Incident]:
    """Open incidents on any of these services at this priority or worse (P1 is 1)."""
    query = select(Incident).where(
        Incident.state.in_(OPEN_STATES),
        Incident.service.in_(services),
        Incident.priority <= max_priority,
    )
    return list(session.scalars(query.order_by(Incident.priority, Incident.id)))


def incidents_by_ids(session: Session, *, ids: list[int]) -> list[Incident]:
    """These incidents (those that exist), by id."""
    if not ids:
        return []
    query = select(Incident).where(Incident.id.in_(ids)).order_by(Incident.id)
    return list(session.scalars(query))


def incidents_opened_between(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> list[Incident]:
    """Incidents opened in [since, until), oldest first (for recurrence analysis)."""
    query = select(Incident)
    if since is not None:
        query = query.where(Incident.opened_at >= since)
    if until is not None:
        query = query.where(Incident.opened_at < until)
    return list(session.scalars(query.order_by(Incident.opened_at, Incident.id)))


def references_of_kind(session: Session, *, kind: str) -> list[tuple[int, str]]:
    """(incident id, ref) of every link of this kind, e.g. imported 'servicenow.problem'."""
    query = select(IncidentLink.incident_id, IncidentLink.ref).where(IncidentLink.kind == kind)
    return [(row[0], row[1]) for row in session.execute(query.order_by(IncidentLink.id))]


def suspect_changes(session: Session, *, incident_id: int) -> list[tuple[int, float]]:
    """(change id, score) of the incident's suspect deployments that carried a change."""
    from flywheel.incident import causes  # causes builds on this module

    found = causes.suspects_of(session, incident_id=incident_id)
    return [(s.candidate.change_id, s.score) for s in found if s.candidate.change_id is not None]
