"""Who is looking at the console: signed session cookies, the signed-in viewer, CSRF checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.responses import Response

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.config import Settings
from flywheel.errors import PermissionDenied, Unauthenticated
from flywheel.http.deps import get_database
from flywheel.web import service

SESSION_COOKIE = "flywheel_session"
SIGN_IN_COOKIE = "flywheel_sign_in"
REFRESH_AFTER_S = 60  # re-sign the cookie (sliding idle timeout) at most once a minute
SIGN_IN_FORM_TTL_S = 3600


class SignInRequired(Unauthenticated):
    """The page needs a signed-in viewer; the console answers with the sign-in page."""


class CsrfRefused(PermissionDenied):
    """A state-changing form without this session's CSRF token (or from another site)."""

    code = "csrf_refused"


class Keys:
    """The console's signing keys, derived from the install's secret key."""

    def __init__(self, secret: str) -> None:
        self._session = URLSafeTimedSerializer(secret, salt="flywheel.console.session")
        self._sign_in = URLSafeTimedSerializer(secret, salt="flywheel.console.sign-in")
        self._csrf = hashlib.sha256(f"flywheel.console.csrf:{secret}".encode()).digest()

    def session_cookie(self, key: str) -> str:
        """The cookie value for a session key, signed now."""
        return self._session.dumps(key)

    def read_session_cookie(self, value: str, *, idle_s: int) -> tuple[str, float]:
        """(session key, seconds since the cookie was signed); BadSignature when invalid or idle."""
        key, signed = self._session.loads(value, max_age=idle_s, return_timestamp=True)
        return str(key), time.time() - signed.timestamp()

    def csrf_token(self, key: str) -> str:
        """The CSRF token of a session: bound to it, never stored."""
        return hmac.new(self._csrf, key.encode(), hashlib.sha256).hexdigest()

    def sign_in_nonce(self) -> tuple[str, str]:
        """(form value, cookie value) for the sign-in form's double-submit check."""
        nonce = secrets.token_urlsafe(24)
        return nonce, self._sign_in.dumps(nonce)

    def sign_in_nonce_matches(self, form_value: str, cookie_value: str) -> bool:
        """Whether the sign-in form came with the nonce its cookie was signed for."""
        try:
            nonce = self._sign_in.loads(cookie_value, max_age=SIGN_IN_FORM_TTL_S)
        except BadSignature:
            return False
        return hmac.compare_digest(str(nonce), form_value)


@dataclass(frozen=True)
class Viewer:
    """The signed-in person looking at a page."""

    actor: Actor
    session_key: str
    csrf_token: str

    @property
    def name(self) -> str:
        """The viewer's username."""
        return self.actor.name

    def can(self, permission: Permission | str) -> bool:
        """Whether the viewer holds a permission (so the page offers what they may do)."""
        return self.actor.can(Permission(permission))


def keys_of(request: Request) -> Keys:
    """The app's console keys."""
    keys: Keys = request.app.state.console_keys
    return keys


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def _cookie_key(request: Request) -> tuple[str, float]:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        raise SignInRequired("sign in to use the console")
    idle_s = settings_of(request).console_idle_minutes * 60
    try:
        return keys_of(request).read_session_cookie(raw, idle_s=idle_s)
    except SignatureExpired as exc:
        raise SignInRequired("you were signed out after a time without activity") from exc
    except BadSignature as exc:
        raise SignInRequired("sign in to use the console") from exc


def current_viewer(request: Request) -> Viewer:
    """The signed-in viewer, or SignInRequired (the console then shows the sign-in page)."""
    key, age_s = _cookie_key(request)
    with get_database(request).session() as session:
        try:
            actor = service.session_actor(session, key=key)
        except Unauthenticated as exc:
            raise SignInRequired(exc.message) from exc
    if age_s > REFRESH_AFTER_S:
        request.state.refreshed_cookie = keys_of(request).session_cookie(key)
    viewer = Viewer(actor, key, keys_of(request).csrf_token(key))
    request.state.viewer = viewer
    request.state.actor = actor
    return viewer


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    """Send the session cookie: HttpOnly, SameSite=Lax, Secure over https."""
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=settings_of(request).console_session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def _same_origin(request: Request) -> bool:
    """A browser's Origin (or Referer) must name this site when it sends one."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent or sent == "null":
        return sent is None
    origin = urlsplit(sent)
    return (origin.scheme, origin.netloc) == (request.url.scheme, request.url.netloc)


async def checked_form(request: Request, viewer: CurrentViewer) -> FormData:
    """The posted form, once its CSRF token matches the viewer's session; else CsrfRefused."""
    form = await request.form()
    token = form.get("csrf_token")
    if not isinstance(token, str) or not hmac.compare_digest(token, viewer.csrf_token):
        raise CsrfRefused("the form is out of date or did not come from this console: reload it")
    if not _same_origin(request):
        raise CsrfRefused("the form was sent from another site")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def require_page(permission: Permission) -> Any:
    """A dependency: the viewer must hold `permission` to open the page or send the form."""

    def _check(viewer: CurrentViewer) -> Viewer:
        if not viewer.can(permission):
            raise PermissionDenied(f"'{viewer.name}' may not see or do this ({permission})")
        return viewer

    return Depends(_check)
