"""Deployment pages: the list, a live run (server-sent events) and its controls."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import Response, StreamingResponse

from flywheel.auth.roles import Permission
from flywheel.db import utcnow
from flywheel.deploy import durable
from flywheel.deploy import service as deploy_service
from flywheel.deploy.schemas import ControlRequest
from flywheel.errors import FlywheelError
from flywheel.http.deps import DbSession, get_database
from flywheel.web import charts, live
from flywheel.web.forms import form_text, validation_message
from flywheel.web.rendering import redirect, render
from flywheel.web.sections import Panel, Section, Tile, console_router
from flywheel.web.security import CheckedForm, Viewer, require_page

router = console_router()
Reader = Annotated[Viewer, require_page(Permission.DEPLOY_READ)]
Runner = Annotated[Viewer, require_page(Permission.DEPLOY_RUN)]
PAGE_SIZE = 50
STATES = (*deploy_service.ACTIVE_STATES, *deploy_service.FINAL_STATES)
NOTICES = {
    "pause": "Pause requested: the run stops before its next batch.",
    "resume": "Resume requested.",
    "abort": "Abort requested: the run rolls back the batches it touched.",
    "rollback": "Rollback requested.",
}


@router.get("/deployments")
def deployment_list(
    request: Request,
    session: DbSession,
    viewer: Reader,
    service: Annotated[str, Query(max_length=200)] = "",
    state: Annotated[str, Query(max_length=32)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Deployments, newest first, filtered by service and state."""
    filters = {"service": service.strip(), "state": state.strip()}
    error = ""
    if filters["state"] and filters["state"] not in STATES:
        error = f"unknown state '{filters['state']}': choose one of {', '.join(STATES)}"
    found = (
        []
        if error
        else deploy_service.list_deployments(
            session,
            service=filters["service"] or None,
            state=filters["state"] or None,
            newest_first=True,
            before_id=before,
            limit=PAGE_SIZE,
        )
    )
    return render(
        request,
        "deployments/list.html",
        status=422 if error else 200,
        error=error,
        title="Deployments",
        deployments=found,
        filters=filters,
        states=STATES,
        more=found[-1].id if len(found) == PAGE_SIZE else None,
    )


def _detail(
    request: Request,
    session: Session,
    viewer: Viewer,
    deployment_id: int,
    *,
    status: int = 200,
    error: str = "",
    notice: str = "",
) -> Response:
    view = live.run_view(session, deployment_id=deployment_id)
    return render(
        request,
        "deployments/detail.html",
        status=status,
        error=error,
        notice=notice,
        title=f"Deployment {deployment_id}",
        chart=charts.as_json(view.chart),
        **live.fragments_context(view, viewer),
    )


@router.get("/deployments/{deployment_id}")
def deployment_page(
    request: Request, deployment_id: int, session: DbSession, viewer: Reader, notice: str = ""
) -> Response:
    """A run: batches, each instance's steps, bake verdicts; updated live while it runs."""
    return _detail(request, session, viewer, deployment_id, notice=NOTICES.get(notice, ""))


@router.get("/deployments/{deployment_id}/live")
def deployment_events(request: Request, deployment_id: int, viewer: Reader) -> StreamingResponse:
    """Server-sent events: the run's panels re-rendered whenever a step or its state changes."""
    # A short session of its own: a request-long one would stay open for the whole stream.
    with get_database(request).session() as session:
        deploy_service.get_deployment(session, deployment_id=deployment_id)
    return StreamingResponse(
        live.events(get_database(request), deployment_id, request, viewer),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _control(
    request: Request, session: Session, viewer: Viewer, deployment_id: int, control: str, form: Any
) -> Response:
    try:
        data = ControlRequest(reason=form_text(form, "reason"))
        if control == "rollback":
            deployment = deploy_service.roll_back(
                session, actor=viewer.actor, deployment_id=deployment_id, reason=data.reason
            )
        else:
            deployment = deploy_service.request_control(
                session,
                actor=viewer.actor,
                deployment_id=deployment_id,
                control=control,
                reason=data.reason,
            )
    except (ValidationError, FlywheelError) as exc:
        if isinstance(exc, FlywheelError) and exc.status_code == 404:
            raise
        session.rollback()
        if isinstance(exc, FlywheelError):
            status, message = exc.status_code, exc.message
        else:
            status, message = 422, validation_message(exc)
        return _detail(request, session, viewer, deployment_id, status=status, error=message)
    session.commit()
    if deployment.id != deployment_id:  # a finished run is undone by a new run
        settings = request.app.state.settings
        durable.submit(get_database(request), settings, deployment.id, deployment.workflow_id)
    return redirect(request, f"/deployments/{deployment.id}?notice={control}")


def _control_route(control: str) -> None:
    def endpoint(
        request: Request,
        deployment_id: int,
        session: DbSession,
        viewer: Runner,
        form: CheckedForm,
    ) -> Response:
        return _control(request, session, viewer, deployment_id, control, form)

    endpoint.__doc__ = f"Ask the run to {control}."
    router.add_api_route(
        f"/deployments/{{deployment_id}}/{control}",
        endpoint,
        methods=["POST"],
        name=f"console_{control}_deployment",
    )


for _control_name in deploy_service.CONTROLS:
    _control_route(_control_name)


def _tiles(session: Session, viewer: Viewer) -> list[Tile]:
    week = deploy_service.finished_since(session, since=utcnow() - timedelta(days=7))
    good = sum(1 for _, state in week if state == "succeeded")
    bad = len(week) - good
    running = len(deploy_service.active_deployments(session))
    return [
        Tile("Deployments running", running, "/deployments?state=running"),
        Tile("Succeeded (7 d)", good, "/deployments?state=succeeded", "good"),
        Tile("Rolled back or failed (7 d)", bad, "/deployments", "bad" if bad else "good"),
    ]


def _activity(session: Session, viewer: Viewer) -> Mapping[str, Any]:
    month = deploy_service.finished_since(session, since=utcnow() - timedelta(days=30))
    chart = charts.deployments_per_day(month, today=utcnow().date())
    return {
        "active": deploy_service.active_deployments(session),
        "recent": deploy_service.list_deployments(session, newest_first=True, limit=8),
        "chart": charts.as_json(chart),
    }


SECTION = Section(
    label="Deployments",
    path="/deployments",
    router=router,
    permission=Permission.DEPLOY_READ,
    tiles=_tiles,
    panels=(
        Panel(
            "Deployments",
            "deployments/_activity_panel.html",
            _activity,
            permission=Permission.DEPLOY_READ,
            wide=True,
            order=40,
        ),
    ),
)
