"""Signing out of the console: this browser (and the identity provider), or everywhere."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from flywheel.http.deps import DbSession, get_database
from flywheel.web import service
from flywheel.web.pages.sso import provider_sign_out_url
from flywheel.web.rendering import redirect, render
from flywheel.web.sections import console_router
from flywheel.web.security import SESSION_COOKIE, CheckedForm, CurrentViewer

router = console_router()


def _forget_cookie(request: Request, response: Response) -> Response:
    request.state.refreshed_cookie = None
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/sign-out")
def sign_out(request: Request, viewer: CurrentViewer, _: CheckedForm) -> Response:
    """End the session on the server, forget the cookie, and sign out at the provider too.

    A session from single sign-on whose provider publishes an end-session endpoint goes
    on there (with the ID token as hint). The hop is a page that refreshes to the provider
    rather than a 303: the console's CSP (`form-action 'self'`) would stop a browser from
    following a form's redirect to another site.
    """
    with get_database(request).session(write=True) as session:  # closed before the provider call
        ended = service.end_session(session, key=viewer.session_key, actor=viewer.actor)
        session.commit()
    request.state.viewer = request.state.refreshed_cookie = None
    id_token = ended.id_token if ended else None
    provider_url = provider_sign_out_url(request, id_token) if id_token else None
    if provider_url is None:
        return _forget_cookie(request, redirect(request, "/sign-in?notice=signed-out"))
    page = render(
        request, "account/provider_sign_out.html", title="Signing out", provider_url=provider_url
    )
    return _forget_cookie(request, page)


@router.post("/account/sign-out-everywhere")
def sign_out_everywhere(
    request: Request, session: DbSession, viewer: CurrentViewer, _: CheckedForm
) -> Response:
    """End every console session of the viewer, this one included."""
    service.end_sessions_everywhere(session, actor=viewer.actor)
    session.commit()
    return _forget_cookie(request, redirect(request, "/sign-in?notice=signed-out-everywhere"))
