"""API routes of incidents: list, read, respond, measure."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.db import as_utc
from flywheel.errors import InvalidInput
from flywheel.http.deps import DbSession, cursor_to_id, require
from flywheel.incident import service
from flywheel.incident.metrics import Tally
from flywheel.incident.schemas import (
    Acknowledge,
    AlertOut,
    ChangeLinkIn,
    IncidentDetail,
    IncidentOut,
    LinkOut,
    MetricsOut,
    MetricsRow,
    NoteIn,
    Reopen,
    Resolve,
    TimelineEventOut,
)
from flywheel.schemas import Page

router = APIRouter(tags=["incidents"])

Reader = Annotated[Actor, Depends(require(Permission.INCIDENT_READ))]
Responder = Annotated[Actor, Depends(require(Permission.INCIDENT_RESPOND))]
StateFilter = Literal["open", "triggered", "acknowledged", "resolved"]
_PRIORITY = re.compile(r"^[Pp]?([1-4])$")
_CHANGE = re.compile(r"^(?:CHG)?0*([1-9]\d*)$", re.IGNORECASE)


def _priority(text: str | None) -> int | None:
    if text is None:
        return None
    found = _PRIORITY.match(text.strip())
    if found is None:
        raise InvalidInput(f"priority '{text}' must be P1, P2, P3 or P4")
    return int(found.group(1))


def _row(tally: Tally) -> MetricsRow:
    return MetricsRow(
        service=tally.service,
        priority=tally.priority,
        incidents=tally.incidents,
        acknowledged=len(tally.to_acknowledge),
        resolved=len(tally.to_resolve),
        mtta_seconds=tally.mtta_seconds,
        mttr_seconds=tally.mttr_seconds,
    )


@router.get("/incidents/metrics", response_model=MetricsOut)
def incident_metrics(
    session: DbSession,
    _: Reader,
    since: datetime | None = None,
    until: datetime | None = None,
    service_key: Annotated[str | None, Query(alias="service")] = None,
) -> MetricsOut:
    """MTTA and MTTR per service and priority of the incidents opened in [since, until)."""
    begin, end = as_utc(since), as_utc(until)
    overall, rows = service.response_metrics(session, since=begin, until=end, service=service_key)
    return MetricsOut(since=begin, until=end, overall=_row(overall), rows=[_row(r) for r in rows])


@router.get("/incidents", response_model=Page[IncidentOut])
def list_incidents(
    session: DbSession,
    _: Reader,
    state: StateFilter | None = None,
    priority: Annotated[str | None, Query(description="P1 … P4")] = None,
    service_key: Annotated[str | None, Query(alias="service")] = None,
    order: Literal["newest", "oldest"] = "newest",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[IncidentOut]:
    """Incidents, newest first by default; filter by state ('open' too), priority, service."""
    after = cursor_to_id(cursor)
    found = service.list_incidents(
        session,
        state=state,
        priority=_priority(priority),
        service=service_key,
        cursor=after or None,
        limit=limit,
        newest_first=order == "newest",
    )
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page(items=[IncidentOut.model_validate(i) for i in found], next_cursor=next_cursor)


@router.get("/incidents/{incident_id}", response_model=IncidentDetail)
def read_incident(incident_id: int, session: DbSession, _: Reader) -> IncidentDetail:
    """One incident with its alerts, links and timeline."""
    return _detail(session, incident_id)


def _detail(session: DbSession, incident_id: int) -> IncidentDetail:
    incident = service.get_incident(session, incident_id=incident_id)
    alerts = service.alerts_of(session, incident_id=incident_id)
    links = service.links_of(session, incident_id=incident_id)
    events = service.timeline(session, incident_id=incident_id)
    return IncidentDetail(
        **IncidentOut.model_validate(incident).model_dump(),
        alerts=[AlertOut.model_validate(a) for a in alerts],
        links=[LinkOut.model_validate(k) for k in links],
        timeline=[TimelineEventOut.model_validate(e) for e in events],
    )


@router.post("/incidents/{incident_id}/ack", response_model=IncidentOut)
def acknowledge(
    incident_id: int, data: Acknowledge, session: DbSession, actor: Responder
) -> IncidentOut:
    """Acknowledge: you are on it (send the version you read; a stale one is 409)."""
    incident = service.acknowledge(
        session, actor=actor, incident_id=incident_id, version=data.version, note=data.note
    )
    session.commit()
    return IncidentOut.model_validate(incident)


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentOut)
def resolve(incident_id: int, data: Resolve, session: DbSession, actor: Responder) -> IncidentOut:
    """Resolve: the service is restored."""
    incident = service.resolve(
        session, actor=actor, incident_id=incident_id, version=data.version, note=data.note
    )
    session.commit()
    return IncidentOut.model_validate(incident)


@router.post("/incidents/{incident_id}/reopen", response_model=IncidentOut)
def reopen(incident_id: int, data: Reopen, session: DbSession, actor: Responder) -> IncidentOut:
    """Reopen a resolved incident, saying why."""
    incident = service.reopen(
        session, actor=actor, incident_id=incident_id, version=data.version, reason=data.reason
    )
    session.commit()
    return IncidentOut.model_validate(incident)


@router.post(
    "/incidents/{incident_id}/notes",
    response_model=TimelineEventOut,
    status_code=status.HTTP_201_CREATED,
)
def add_note(
    incident_id: int, data: NoteIn, session: DbSession, actor: Responder
) -> TimelineEventOut:
    """Add a note to the timeline."""
    event = service.add_note(session, actor=actor, incident_id=incident_id, text=data.text)
    session.commit()
    return TimelineEventOut.model_validate(event)


@router.post(
    "/incidents/{incident_id}/links", response_model=LinkOut, status_code=status.HTTP_201_CREATED
)
def link_change(
    incident_id: int, data: ChangeLinkIn, session: DbSession, actor: Responder
) -> LinkOut:
    """Link a change (42 or CHG0000042) to the incident."""
    found = _CHANGE.match(data.change.strip())
    if found is None:
        raise InvalidInput(f"change '{data.change}' is not a change id (e.g. 42 or CHG0000042)")
    link = service.link_change(
        session, actor=actor, incident_id=incident_id, change_id=int(found.group(1)), note=data.note
    )
    session.commit()
    return LinkOut.model_validate(link)
