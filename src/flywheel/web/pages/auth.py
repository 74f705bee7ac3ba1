"""Signing in (password or API token) and out of the console."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.errors import Unauthenticated
from flywheel.http.deps import get_database
from flywheel.web import service
from flywheel.web.forms import form_text
from flywheel.web.rendering import redirect, render
from flywheel.web.sections import console_router
from flywheel.web.security import (
    SIGN_IN_COOKIE,
    keys_of,
    set_session_cookie,
    settings_of,
)

log = logging.getLogger("flywheel.web")
router = console_router()

NOTICES = {
    "signed-out": "You are signed out.",
    "signed-out-everywhere": "You are signed out of every browser and device.",
}


def safe_next(target: str) -> str:
    """Where to go after signing in: only a path on this site, never another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def form_page(
    request: Request, *, status: int = 200, error: str = "", next_url: str = "/"
) -> Response:
    """The sign-in page, with an error when a sign-in was refused."""
    nonce, cookie = keys_of(request).sign_in_nonce()
    notice = NOTICES.get(request.query_params.get("notice", ""), "")
    response = render(
        request,
        "sign_in.html",
        status=status,
        error=error,
        notice=notice,
        nonce=nonce,
        next_url=safe_next(next_url),
        username=request.query_params.get("username", ""),
        sso_label=settings_of(request).oidc_label if settings_of(request).oidc_issuer else "",
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        cookie,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/sign-in",
    )
    return response


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return form_page(request, next_url=next)


def _credentials(request: Request, username: str, password: str, token: str) -> Actor:
    if token and (username or password):
        raise Unauthenticated("sign in with a username and password, or with a token, not both")
    if not token and not (username and password):
        raise Unauthenticated("give your username and password, or an API token")
    with get_database(request).session() as session:
        if token:
            return auth_service.authenticate_token(session, secret=token)
        user = auth_service.check_password(session, username=username, password=password)
        return auth_service.actor_for(user)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the credentials and start a session (a new key each time: no fixation)."""
    form = await request.form()
    next_url = safe_next(form_text(form, "next"))
    cookie = request.cookies.get(SIGN_IN_COOKIE, "")
    if not keys_of(request).sign_in_nonce_matches(form_text(form, "nonce"), cookie):
        message = "the sign-in form expired or did not come from this console: try again"
        return form_page(request, status=403, error=message, next_url=next_url)
    token = form_text(form, "token")
    try:
        password = form.get("password")
        secret = password if isinstance(password, str) else ""
        actor = await _check(request, form_text(form, "username"), secret, token)
    except Unauthenticated as exc:
        log.info("console sign-in refused: %s", exc.message)
        return form_page(request, status=401, error=exc.message, next_url=next_url)
    key = await start_session(request, actor, "token" if token else "password")
    response = redirect(request, next_url)
    set_session_cookie(request, response, keys_of(request).session_cookie(key))
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


async def _check(request: Request, username: str, password: str, token: str) -> Actor:
    return await run_in_threadpool(_credentials, request, username, password, token)


async def start_session(
    request: Request, actor: Actor, method: str, *, id_token: str | None = None
) -> str:
    """Open a console session for the actor (in a worker thread); the key for its cookie."""
    hours = settings_of(request).console_session_hours

    def start() -> str:
        with get_database(request).session(write=True) as session:
            _, key = service.start_session(
                session,
                actor=actor,
                lifetime=timedelta(hours=hours),
                method=method,
                id_token=id_token,
            )
            session.commit()
            return key

    return await run_in_threadpool(start)
