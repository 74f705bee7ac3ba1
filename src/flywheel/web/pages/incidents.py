"""Incident pages: the list, an incident with impact, timeline and suspects, and its actions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import Response, StreamingResponse

from flywheel.auth.roles import Permission
from flywheel.cmdb import service as cmdb_service
from flywheel.deploy import durable
from flywheel.errors import FlywheelError, InvalidInput, NotFound, PermissionDenied
from flywheel.http.deps import DbSession, get_database
from flywheel.incident import causes
from flywheel.incident import service as incident_service
from flywheel.incident.cause_views import CauseIn, RollbackIn
from flywheel.incident.schemas import Acknowledge, Reopen, Resolve
from flywheel.web import incident_live, incident_view
from flywheel.web.forms import form_text, validation_message
from flywheel.web.incident_view import Impact, ServiceImpact
from flywheel.web.rendering import redirect, render
from flywheel.web.sections import Panel, Section, Tile, console_router
from flywheel.web.security import CheckedForm, Viewer, require_page

router = console_router()
Reader = Annotated[Viewer, require_page(Permission.INCIDENT_READ)]
Responder = Annotated[Viewer, require_page(Permission.INCIDENT_RESPOND)]
PAGE_SIZE = 50
OPEN_COUNTED = 1000
NOTICES = {
    "acknowledge": "You acknowledged the incident.",
    "resolve": "The incident is resolved.",
    "reopen": "The incident is open again.",
    "cause": "The change is recorded as the cause.",
}


@router.get("/incidents")
def incident_list(
    request: Request,
    session: DbSession,
    viewer: Reader,
    state: Annotated[str, Query(max_length=32)] = "",
    priority: Annotated[str, Query(max_length=8)] = "",
    service: Annotated[str, Query(max_length=200)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Incidents, newest first, filtered by state, priority and service."""
    filters = {"state": state.strip(), "priority": priority.strip(), "service": service.strip()}
    error, found = "", []
    try:
        chosen_state = incident_view.check_state(filters["state"])
        chosen_priority = incident_view.parse_priority(filters["priority"])
    except ValueError as exc:
        error = str(exc)
    else:
        found = incident_service.list_incidents(
            session,
            state=chosen_state,
            priority=chosen_priority,
            service=filters["service"] or None,
            cursor=before,
            limit=PAGE_SIZE,
        )
    return render(
        request,
        "incidents/list.html",
        status=422 if error else 200,
        error=error,
        title="Incidents",
        incidents=found,
        filters=filters,
        states=incident_view.STATES,
        priorities=incident_view.PRIORITIES,
        more=found[-1].id if len(found) == PAGE_SIZE else None,
    )


def _measured_impact(session: Session, ci_keys: list[str]) -> Impact | None:
    """The CMDB's view now, for incidents stored without one (imported, older)."""
    known = [c.key for c in cmdb_service.get_cis(session, keys=ci_keys)]
    if not known:
        return None
    try:
        report = cmdb_service.impact(session, keys=known, top_tenants=5)
    except NotFound:
        return None
    return Impact(
        known=True,
        level=None,
        summary=report.summary,
        services=[ServiceImpact(s.key, s.status, None) for s in report.business_services],
        tenants_affected=report.tenants_affected,
        top_tenants=[t.key for t in report.top_tenants],
        measured_now=True,
    )


def _detail(
    request: Request,
    session: Session,
    viewer: Viewer,
    incident_id: int,
    *,
    status: int = 200,
    error: str = "",
    notice: str = "",
) -> Response:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    events = incident_service.timeline(session, incident_id=incident_id)
    impact = incident_view.impact_of(incident.impact)
    if impact is None and incident.ci_keys:
        impact = _measured_impact(session, list(incident.ci_keys))
    can_respond = viewer.can(Permission.INCIDENT_RESPOND)
    may_roll_back = can_respond and viewer.can(Permission.DEPLOY_RUN)
    suspects = [
        (s, incident_view.can_roll_back(s.candidate.state, permitted=may_roll_back))
        for s in causes.suspects_of(session, incident_id=incident_id)
    ]
    return render(
        request,
        "incidents/detail.html",
        status=status,
        error=error,
        notice=notice,
        title=f"{incident.number} {incident.title}",
        incident=incident,
        impact=impact,
        timeline=events,
        alerts=incident_service.alerts_of(session, incident_id=incident_id, limit=100),
        links=incident_service.links_of(session, incident_id=incident_id),
        suspects=suspects,
        responders=incident_view.responders(events),
        acknowledgements=incident_view.acknowledgements(events),
        actions=incident_view.actions_open(incident.state, can_respond=can_respond),
        can_respond=can_respond,
    )


@router.get("/incidents/{incident_id}")
def incident_page(
    request: Request, incident_id: int, session: DbSession, viewer: Reader, notice: str = ""
) -> Response:
    """An incident: impact, suspects with rollback, timeline, alerts, responders."""
    return _detail(request, session, viewer, incident_id, notice=NOTICES.get(notice, ""))


@router.get("/incidents/{incident_id}/live")
def incident_events(request: Request, incident_id: int, viewer: Reader) -> StreamingResponse:
    """Server-sent events: the timeline and state whenever they change, until resolved."""
    db = get_database(request)
    with db.session() as session:  # a short session: the stream outlives the request's
        incident_service.get_incident(session, incident_id=incident_id)
    return StreamingResponse(
        incident_live.events(db, incident_id, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _failed(
    request: Request, session: Session, viewer: Viewer, incident_id: int, exc: Exception
) -> Response:
    if isinstance(exc, FlywheelError) and exc.status_code in (403, 404):
        raise exc
    session.rollback()
    if isinstance(exc, ValidationError):
        status, message = 422, validation_message(exc)
    elif isinstance(exc, FlywheelError):
        status, message = exc.status_code, exc.message
    else:
        raise exc
    return _detail(request, session, viewer, incident_id, status=status, error=message)


def _version(form: Any) -> int:
    text = form_text(form, "version")
    if not text.isdigit():
        raise InvalidInput("version: the form lost the incident's version; reload the page")
    return int(text)


def _move(viewer: Viewer, session: Session, incident_id: int, action: str, form: Any) -> None:
    version, note = _version(form), form_text(form, "note")
    actor = viewer.actor
    if action == "acknowledge":
        data = Acknowledge(version=version, note=note)
        incident_service.acknowledge(
            session, actor=actor, incident_id=incident_id, version=data.version, note=data.note
        )
    elif action == "resolve":
        done = Resolve(version=version, note=note)
        incident_service.resolve(
            session, actor=actor, incident_id=incident_id, version=done.version, note=done.note
        )
    else:
        again = Reopen(version=version, reason=form_text(form, "reason"))
        incident_service.reopen(
            session,
            actor=actor,
            incident_id=incident_id,
            version=again.version,
            reason=again.reason,
        )


def _move_route(action: str) -> None:
    def endpoint(
        request: Request, incident_id: int, session: DbSession, viewer: Responder, form: CheckedForm
    ) -> Response:
        try:
            _move(viewer, session, incident_id, action, form)
        except (ValidationError, FlywheelError) as exc:
            return _failed(request, session, viewer, incident_id, exc)
        session.commit()
        return redirect(request, f"/incidents/{incident_id}?notice={action}")

    endpoint.__doc__ = f"{action.capitalize()} the incident (the version read must still hold)."
    router.add_api_route(
        f"/incidents/{{incident_id}}/{action}",
        endpoint,
        methods=["POST"],
        name=f"console_{action}_incident",
    )


for _action in ("acknowledge", "resolve", "reopen"):
    _move_route(_action)


def _number(form: Any, name: str) -> int:
    text = form_text(form, name)
    if not text.isdigit():
        raise InvalidInput(f"{name}: '{text}' is not a number")
    return int(text)


@router.post("/incidents/{incident_id}/rollback")
def roll_back_suspect(
    request: Request, incident_id: int, session: DbSession, viewer: Responder, form: CheckedForm
) -> Response:
    """Roll back a suspect deployment (needs deploy:run too, as the API)."""
    if not viewer.can(Permission.DEPLOY_RUN):
        raise PermissionDenied("rolling back a deployment needs the deploy:run permission")
    try:
        data = RollbackIn(
            deployment_id=_number(form, "deployment_id"), reason=form_text(form, "reason")
        )
        run = causes.roll_back_suspect(
            session,
            actor=viewer.actor,
            incident_id=incident_id,
            deployment_id=data.deployment_id,
            reason=data.reason,
        )
    except (ValidationError, FlywheelError) as exc:
        if isinstance(exc, NotFound) and "incident" not in exc.message:
            exc = InvalidInput(exc.message)  # the deployment is gone, not the page
        return _failed(request, session, viewer, incident_id, exc)
    session.commit()
    if run.id != data.deployment_id:  # a finished run is undone by a new run
        settings = request.app.state.settings
        durable.submit(get_database(request), settings, run.id, run.workflow_id)
    return redirect(request, f"/deployments/{run.id}?notice=rollback")


@router.post("/incidents/{incident_id}/cause")
def confirm_cause(
    request: Request, incident_id: int, session: DbSession, viewer: Responder, form: CheckedForm
) -> Response:
    """Confirm the change that caused the incident (the change counts as failed)."""
    try:
        data = CauseIn(change_id=_number(form, "change_id"), note=form_text(form, "note"))
        causes.confirm_cause(
            session,
            actor=viewer.actor,
            incident_id=incident_id,
            change_id=data.change_id,
            note=data.note,
        )
    except (ValidationError, FlywheelError) as exc:
        if isinstance(exc, NotFound) and "incident" not in exc.message:
            exc = InvalidInput(exc.message)
        return _failed(request, session, viewer, incident_id, exc)
    session.commit()
    return redirect(request, f"/incidents/{incident_id}?notice=cause")


def _open_by_priority(session: Session) -> Counter[int]:
    found = incident_service.list_incidents(session, state="open", limit=OPEN_COUNTED)
    return Counter(i.priority for i in found)


def _tiles(session: Session, viewer: Viewer) -> list[Tile]:
    counts = _open_by_priority(session)
    urgent = counts[1] + counts[2]
    return [
        Tile("Open incidents", sum(counts.values()), "/incidents?state=open"),
        Tile("Open P1 or P2", urgent, "/incidents?state=open", "bad" if urgent else "good"),
    ]


def _open_panel(session: Session, viewer: Viewer) -> Mapping[str, Any]:
    found = incident_service.list_incidents(session, state="open", limit=10)
    counts = _open_by_priority(session)
    return {
        "by_priority": [(p, counts[p]) for p in incident_view.PRIORITIES],
        "incidents": sorted(found, key=lambda i: (i.priority, -i.id)),
    }


SECTION = Section(
    label="Incidents",
    path="/incidents",
    router=router,
    permission=Permission.INCIDENT_READ,
    tiles=_tiles,
    panels=(
        Panel(
            "Open incidents by priority",
            "incidents/_open_panel.html",
            _open_panel,
            permission=Permission.INCIDENT_READ,
            order=15,
        ),
    ),
)
