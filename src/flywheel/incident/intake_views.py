"""API routes of alert intake: integrations, the Alertmanager webhook, generic alerts."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Body, Depends, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from sqlalchemy.orm import Session

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.errors import Unauthenticated
from flywheel.http.deps import DbSession, require
from flywheel.incident import intake, integrations, signatures
from flywheel.incident.cirules import DEFAULT_RULES, parse_rules
from flywheel.incident.grouping import Policy, ResolveWhen
from flywheel.incident.incoming import Incoming, normalise
from flywheel.incident.schemas import (
    MAX_BATCH,
    AlertIn,
    AlertmanagerPayload,
    IntakeOut,
    IntegrationCreate,
    IntegrationCreated,
    IntegrationOut,
    IntegrationUpdate,
)

router = APIRouter(tags=["alerts"])

Poster = Annotated[Actor, Depends(require(Permission.ALERT_POST))]
IntegrationReader = Annotated[Actor, Depends(require(Permission.INTEGRATION_READ))]
IntegrationAdmin = Annotated[Actor, Depends(require(Permission.INTEGRATION_MANAGE))]
WEBHOOK_PATH = "/api/v1/integrations/alertmanager"
_bearer = HTTPBearer(auto_error=False, description="An integration token: `Bearer fwi_…`")


def policy_of(settings: Settings) -> Policy:
    """The grouping policy the settings describe."""
    return Policy(
        group_window=timedelta(seconds=settings.incident_group_window_seconds),
        reopen_window=timedelta(seconds=settings.incident_reopen_window_seconds),
        resolve_when=ResolveWhen(settings.incident_resolve_when),
        flap_flips=settings.incident_flap_flips,
        flap_window=timedelta(seconds=settings.incident_flap_window_seconds),
    )


def _secret(credentials: HTTPAuthorizationCredentials | None, token: str | None) -> str:
    secret = token or (credentials.credentials if credentials is not None else None)
    if not secret:
        raise Unauthenticated(
            "missing integration token: send 'Authorization: Bearer <token>' or '?token=<token>'"
        )
    return secret


def _parse(body: bytes) -> AlertmanagerPayload:
    """The payload, or a 422 naming each bad field (as FastAPI's own validation would)."""
    try:
        return AlertmanagerPayload.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            {"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from exc


def _receive(
    session: Session,
    settings: Settings,
    actor: Actor,
    source: str,
    alerts: list[Incoming],
    now: datetime,
) -> intake.IntakeResult:
    return intake.receive(
        session,
        actor=actor,
        source=source,
        alerts=alerts,
        policy=policy_of(settings),
        now=now,
        ci_cache_seconds=settings.incident_ci_cache_seconds,
    )


_WEBHOOK_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": AlertmanagerPayload.model_json_schema()}},
    }
}


@router.post("/integrations/alertmanager", response_model=IntakeOut, openapi_extra=_WEBHOOK_BODY)
async def alertmanager_webhook(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[
        str | None, Query(description="The integration token, if not a header")
    ] = None,
) -> JSONResponse:
    """Prometheus Alertmanager's webhook (payload version 4); re-sends are idempotent.

    The hot path of an alert storm: authentication, parsing (pydantic reads the raw
    bytes) and intake run in one worker-thread call on one database session, instead of
    a thread hop per dependency.
    """
    secret = _secret(credentials, token)
    body = await request.body()
    signed = (
        request.headers.get(signatures.TIMESTAMP_HEADER),
        request.headers.get(signatures.SIGNATURE_HEADER),
    )
    work = partial(_webhook, request.app.state.db, request.app.state.settings, secret, body, signed)
    result = await anyio.to_thread.run_sync(work)
    # IntakeOut documents the answer; the dataclass is already exactly that shape.
    return JSONResponse(asdict(result))


def _webhook(
    db: Database,
    settings: Settings,
    secret: str,
    body: bytes,
    signed: tuple[str | None, str | None],
) -> intake.IntakeResult:
    with db.session(write=True) as session:
        found = integrations.authenticate(session, secret=secret)
        if found.signing_secret is not None:
            signatures.verify(found.signing_secret, body, *signed)
        actor = integrations.integration_actor(found)
        rules = parse_rules(found.ci_rules)
        payload = _parse(body)
        now = utcnow()
        alerts = [
            normalise(
                status=a.status,
                labels=a.labels,
                annotations=a.annotations,
                starts_at=a.startsAt,
                ends_at=a.endsAt,
                fingerprint=a.fingerprint,
                severity=None,
                generator_url=a.generatorURL,
                rules=rules,
                now=now,
            )
            for a in payload.alerts
        ]
        result = _receive(session, settings, actor, found.source, alerts, now)
        session.commit()
    return result


@router.post("/alerts", response_model=IntakeOut)
def post_alerts(
    alerts: Annotated[list[AlertIn], Body(min_length=1, max_length=MAX_BATCH)],
    request: Request,
    session: DbSession,
    actor: Poster,
) -> IntakeOut:
    """Alerts from any monitoring system, grouped into incidents like Alertmanager's."""
    now = utcnow()
    settings: Settings = request.app.state.settings
    rules = parse_rules(DEFAULT_RULES)
    by_source: dict[str, list[Incoming]] = {}
    for a in alerts:
        by_source.setdefault(f"api:{a.source}", []).append(
            normalise(
                status=a.status,
                labels=a.labels,
                annotations=a.annotations,
                starts_at=a.starts_at,
                ends_at=a.ends_at,
                fingerprint=a.fingerprint,
                severity=a.severity,
                generator_url=a.generator_url,
                rules=rules,
                now=now,
            )
        )
    total = intake.IntakeResult()
    for source, batch in sorted(by_source.items()):
        total = intake.merge(total, _receive(session, settings, actor, source, batch, now))
    session.commit()
    return IntakeOut(**asdict(total))


@router.post(
    "/integrations", response_model=IntegrationCreated, status_code=status.HTTP_201_CREATED
)
def create_integration(
    data: IntegrationCreate, session: DbSession, actor: IntegrationAdmin
) -> IntegrationCreated:
    """Add an integration; its token is in this answer only."""
    integration, secret = integrations.create_integration(session, actor=actor, data=data)
    session.commit()
    shown = IntegrationOut.model_validate(integration).model_dump()
    return IntegrationCreated(
        **shown,
        token=secret,
        webhook_path=WEBHOOK_PATH,
        signing_secret=integration.signing_secret,
    )


@router.get("/integrations", response_model=list[IntegrationOut])
def list_integrations(session: DbSession, _: IntegrationReader) -> list[IntegrationOut]:
    """Every integration (tokens are never shown again)."""
    return [IntegrationOut.model_validate(i) for i in integrations.list_integrations(session)]


@router.patch("/integrations/{name}", response_model=IntegrationOut)
def update_integration(
    name: str, data: IntegrationUpdate, session: DbSession, actor: IntegrationAdmin
) -> IntegrationOut:
    """Replace an integration's CI mapping rules."""
    integration = integrations.update_rules(
        session, actor=actor, name=name, version=data.version, rules=data.ci_rules
    )
    session.commit()
    return IntegrationOut.model_validate(integration)


@router.delete("/integrations/{name}", response_model=IntegrationOut)
def revoke_integration(name: str, session: DbSession, actor: IntegrationAdmin) -> IntegrationOut:
    """Stop accepting an integration's token; its alerts and incidents stay."""
    integration = integrations.revoke(session, actor=actor, name=name)
    session.commit()
    return IntegrationOut.model_validate(integration)
