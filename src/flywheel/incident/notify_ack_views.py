"""The acknowledge link of a notification: GET shows a confirmation page, POST acknowledges."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from flywheel.auth import service as auth_service
from flywheel.auth.roles import Permission
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.errors import FlywheelError
from flywheel.incident import service
from flywheel.incident.notify_links import AckGrant, AckLinkInvalid, read_token

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Flywheel</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = _PAGE.format(title=escape(title), body=body)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _grant(request: Request, token: str) -> AckGrant:
    settings: Settings = request.app.state.settings
    return read_token(settings, token)


@router.get("/ack/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request) -> HTMLResponse:
    """Show what the link acknowledges, with a button; looking changes nothing."""
    try:
        grant = _grant(request, token)
    except AckLinkInvalid as exc:
        return _page("Link not valid", f"<p>{escape(str(exc))}.</p>", 400)
    db: Database = request.app.state.db
    with db.session() as session:
        try:
            incident = service.get_incident(session, incident_id=grant.incident_id)
        except FlywheelError as exc:
            return _page("Incident not found", f"<p>{escape(exc.message)}</p>", 404)
    head = f"<p><strong>{escape(incident.number)}</strong> on {escape(incident.service)}: "
    head += f"{escape(incident.title)} — now <em>{escape(incident.state)}</em>.</p>"
    if incident.state != "triggered":
        return _page(f"{incident.number} is {incident.state}", head)
    form = (
        f'<form method="post"><p>Acknowledge as <strong>{escape(grant.username)}</strong>?</p>'
        '<button type="submit">Acknowledge</button></form>'
    )
    return _page(f"Acknowledge {incident.number}", head + form)


@router.post("/ack/{token}", response_class=HTMLResponse)
def acknowledge(token: str, request: Request) -> HTMLResponse:
    """Acknowledge the incident as the notified person (audited like any acknowledgement)."""
    try:
        grant = _grant(request, token)
    except AckLinkInvalid as exc:
        return _page("Link not valid", f"<p>{escape(str(exc))}.</p>", 400)
    db: Database = request.app.state.db
    with db.session(write=True) as session:
        try:
            user = auth_service.get_user(session, username=grant.username)
            actor = auth_service.actor_for(user)
            if not user.is_active or not actor.can(Permission.INCIDENT_RESPOND):
                return _page("Not allowed", "<p>This account may not acknowledge.</p>", 403)
            incident = service.get_incident(session, incident_id=grant.incident_id)
            service.acknowledge(
                session,
                actor=actor,
                incident_id=incident.id,
                version=incident.version,
                note="acknowledged from a notification link",
            )
            session.commit()
        except FlywheelError as exc:
            return _page("Not acknowledged", f"<p>{escape(exc.message)}</p>", exc.status_code)
    body = f"<p>{escape(incident.number)} is acknowledged by {escape(grant.username)}.</p>"
    return _page("Acknowledged", body)
