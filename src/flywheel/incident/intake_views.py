"""API routes of alert intake: integrations, the Alertmanager webhook, generic alerts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.config import Settings
from flywheel.db import utcnow
from flywheel.errors import Unauthenticated
from flywheel.http.deps import DbSession, get_database, require
from flywheel.incident import intake, integrations
from flywheel.incident.cirules import DEFAULT_RULES, CIRule, parse_rules
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


@dataclass(frozen=True)
class Sender:
    """The integration a webhook call authenticated as."""

    actor: Actor
    source: str
    rules: list[CIRule]


def get_sender(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[
        str | None, Query(description="The integration token, if not a header")
    ] = None,
) -> Sender:
    """The integration named by the token (`?token=`, else the bearer header), or 401."""
    secret = token or (credentials.credentials if credentials is not None else None)
    if not secret:
        raise Unauthenticated(
            "missing integration token: send 'Authorization: Bearer <token>' or '?token=<token>'"
        )
    with get_database(request).session() as session:
        found = integrations.authenticate(session, secret=secret)
        sender = Sender(
            integrations.integration_actor(found), found.source, parse_rules(found.ci_rules)
        )
    request.state.actor = sender.actor
    return sender


def _receive(
    request: Request,
    session: DbSession,
    actor: Actor,
    source: str,
    alerts: list[Incoming],
    now: datetime,
) -> intake.IntakeResult:
    settings: Settings = request.app.state.settings
    return intake.receive(
        session,
        actor=actor,
        source=source,
        alerts=alerts,
        policy=policy_of(settings),
        now=now,
        ci_cache_seconds=settings.incident_ci_cache_seconds,
    )


@router.post("/integrations/alertmanager", response_model=IntakeOut)
def alertmanager_webhook(
    payload: AlertmanagerPayload,
    request: Request,
    session: DbSession,
    sender: Annotated[Sender, Depends(get_sender)],
) -> IntakeOut:
    """Prometheus Alertmanager's webhook (payload version 4); re-sends are idempotent."""
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
            rules=sender.rules,
            now=now,
        )
        for a in payload.alerts
    ]
    result = _receive(request, session, sender.actor, sender.source, alerts, now)
    session.commit()
    return IntakeOut(**asdict(result))


@router.post("/alerts", response_model=IntakeOut)
def post_alerts(
    alerts: Annotated[list[AlertIn], Body(min_length=1, max_length=MAX_BATCH)],
    request: Request,
    session: DbSession,
    actor: Poster,
) -> IntakeOut:
    """Alerts from any monitoring system, grouped into incidents like Alertmanager's."""
    now = utcnow()
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
        total = intake.merge(total, _receive(request, session, actor, source, batch, now))
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
    return IntegrationCreated(**shown, token=secret, webhook_path=WEBHOOK_PATH)


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
