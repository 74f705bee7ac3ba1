"""Signing in to the console through the configured OpenID Connect provider."""

from __future__ import annotations

import logging
from dataclasses import asdict

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from flywheel.auth import sso, sso_service
from flywheel.auth.actor import Actor
from flywheel.errors import FlywheelError, NotFound, PermissionDenied, Unauthenticated
from flywheel.http.deps import get_database
from flywheel.web.oidc_client import Attempt, OidcClient
from flywheel.web.pages.auth import form_page, safe_next, start_session
from flywheel.web.rendering import redirect
from flywheel.web.sections import console_router
from flywheel.web.security import keys_of, set_session_cookie, settings_of

log = logging.getLogger("flywheel.web")
router = console_router()
ATTEMPT_COOKIE = "flywheel_oidc"
ATTEMPT_TTL_S = 600
CALLBACK = "/sign-in/oidc/callback"


def oidc_client(request: Request) -> OidcClient:
    settings = settings_of(request)
    if not settings.oidc_issuer:
        raise NotFound("single sign-on is not configured")
    client: OidcClient | None = getattr(request.app.state, "oidc_client", None)
    if client is None:
        sso.check_role_map(settings.oidc_role_map)
        client = request.app.state.oidc_client = OidcClient(settings)
    return client


def _signer(request: Request) -> URLSafeTimedSerializer:
    secret = settings_of(request).resolved_secret_key()
    return URLSafeTimedSerializer(secret, salt="flywheel.console.oidc")


def _redirect_uri(request: Request) -> str:
    configured = settings_of(request).oidc_redirect_uri
    return configured or str(request.base_url).rstrip("/") + CALLBACK


def provider_sign_out_url(request: Request, id_token: str) -> str | None:
    """The provider's end-session address for this ID token, or None (sign out here only)."""
    if not settings_of(request).oidc_issuer:
        return None
    configured = settings_of(request).oidc_post_logout_redirect_uri
    back = configured or str(request.base_url).rstrip("/") + "/sign-in"
    try:
        return oidc_client(request).sign_out_url(id_token=id_token, post_logout_redirect_uri=back)
    except Unauthenticated as exc:
        log.warning("could not sign out at the identity provider: %s", exc.message)
        return None


@router.get("/sign-in/oidc")
async def sso_start(request: Request, next: str = "/") -> Response:
    """Send the browser to the identity provider, remembering state, nonce and PKCE verifier."""
    client = oidc_client(request)
    try:
        url, attempt = await run_in_threadpool(client.start, _redirect_uri(request))
    except Unauthenticated as exc:
        return form_page(request, status=502, error=exc.message, next_url=next)
    remembered = _signer(request).dumps({**asdict(attempt), "next": safe_next(next)})
    response = redirect(request, url)
    response.set_cookie(
        ATTEMPT_COOKIE,
        remembered,
        max_age=ATTEMPT_TTL_S,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/sign-in/oidc",
    )
    return response


def _attempt(request: Request) -> tuple[Attempt, str]:
    try:
        saved = _signer(request).loads(
            request.cookies.get(ATTEMPT_COOKIE, ""), max_age=ATTEMPT_TTL_S
        )
    except BadSignature as exc:
        raise Unauthenticated("the sign-in took too long or did not start here: try again") from exc
    if saved.get("state") != request.query_params.get("state"):
        raise Unauthenticated("the identity provider's answer does not belong to this sign-in")
    return Attempt(saved["state"], saved["nonce"], saved["verifier"]), str(saved["next"])


def _signed_in(request: Request, attempt: Attempt) -> tuple[Actor, str]:
    settings = settings_of(request)
    code = request.query_params.get("code", "")
    signed_on = oidc_client(request).sign_on(
        code=code, redirect_uri=_redirect_uri(request), attempt=attempt
    )
    identity = sso.identity_from(
        signed_on.claims,
        groups_claim=settings.oidc_groups_claim,
        role_map=settings.oidc_role_map,
        team_map=settings.oidc_team_map,
    )
    with get_database(request).session(write=True) as session:
        actor = sso_service.provision(session, identity)
        session.commit()
    return actor, signed_on.id_token


@router.get(CALLBACK)
async def sso_callback(request: Request) -> Response:
    """Check the provider's answer, provision the person, and start a console session."""
    next_url = "/"
    try:
        attempt, next_url = _attempt(request)
        if request.query_params.get("error"):
            described = request.query_params.get("error_description") or ""
            error = request.query_params["error"]
            raise Unauthenticated(f"the identity provider said {error}: {described}".rstrip(": "))
        actor, id_token = await run_in_threadpool(_signed_in, request, attempt)
    except (Unauthenticated, PermissionDenied) as exc:
        log.info("single sign-on refused: %s", exc.message)
        status = 403 if isinstance(exc, PermissionDenied) else 401
        return form_page(request, status=status, error=exc.message, next_url=next_url)
    except FlywheelError as exc:
        return form_page(request, status=400, error=exc.message, next_url=next_url)
    key = await start_session(request, actor, "oidc", id_token=id_token)
    response = redirect(request, next_url)
    set_session_cookie(request, response, keys_of(request).session_cookie(key))
    response.delete_cookie(ATTEMPT_COOKIE, path="/sign-in/oidc")
    return response
