"""Alert integrations: who may send alerts, with which token, mapped to CIs how."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.auth.tokens import hash_token, token_hint
from flywheel.db import utcnow
from flywheel.errors import Conflict, NotFound, StaleVersion, Unauthenticated
from flywheel.incident.cirules import DEFAULT_RULES, CIRule, parse_rules
from flywheel.incident.models import AlertIntegration
from flywheel.incident.schemas import CIRuleIn, IntegrationCreate

TOKEN_PREFIX = "fwi_"


def _summary(integration: AlertIntegration) -> dict[str, Any]:
    return {
        "name": integration.name,
        "kind": integration.kind,
        "hint": integration.hint,
        "ci_rules": integration.ci_rules,
        "revoked_at": integration.revoked_at,
        "signed": integration.signed,
    }


def _stored_rules(rules: list[CIRuleIn] | None) -> list[dict[str, Any]]:
    raw = DEFAULT_RULES if rules is None else [r.model_dump(exclude_none=True) for r in rules]
    parse_rules(raw)  # InvalidInput naming the bad rule
    return [dict(r) for r in raw]


def create_integration(
    session: Session, *, actor: Actor, data: IntegrationCreate
) -> tuple[AlertIntegration, str]:
    """A new integration and its token (shown once, stored as a hash)."""
    if session.scalar(select(AlertIntegration.id).where(AlertIntegration.name == data.name)):
        raise Conflict(f"integration '{data.name}' already exists")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    integration = AlertIntegration(
        name=data.name,
        kind=data.kind,
        token_hash=hash_token(secret),
        hint=token_hint(secret),
        ci_rules=_stored_rules(data.ci_rules),
        created_by=actor.name,
        signing_secret=secrets.token_urlsafe(32) if data.signed else None,
    )
    session.add(integration)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="integration.create",
        object_type="integration",
        object_id=integration.name,
        after=_summary(integration),
    )
    return integration, secret


def list_integrations(session: Session) -> list[AlertIntegration]:
    """Every integration, revoked ones included, by name."""
    return list(session.scalars(select(AlertIntegration).order_by(AlertIntegration.name)))


def get_integration(session: Session, *, name: str) -> AlertIntegration:
    """The integration with this name, or NotFound."""
    found = session.scalar(select(AlertIntegration).where(AlertIntegration.name == name))
    if found is None:
        raise NotFound(f"no integration '{name}'")
    return found


def update_rules(
    session: Session, *, actor: Actor, name: str, version: int, rules: list[CIRuleIn]
) -> AlertIntegration:
    """Replace an integration's CI mapping rules (send the version you read)."""
    integration = get_integration(session, name=name)
    if integration.version != version:
        raise StaleVersion(
            f"integration '{name}' is at version {integration.version}, not {version}",
            details={"current_version": integration.version},
        )
    before = _summary(integration)
    integration.ci_rules = _stored_rules(rules)
    integration.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="integration.update",
        object_type="integration",
        object_id=name,
        before=before,
        after=_summary(integration),
    )
    return integration


def revoke(session: Session, *, actor: Actor, name: str) -> AlertIntegration:
    """Stop accepting the integration's token; revoking twice changes nothing."""
    integration = get_integration(session, name=name)
    if integration.revoked_at is None:
        before = _summary(integration)
        integration.revoked_at = integration.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="integration.revoke",
            object_type="integration",
            object_id=name,
            before=before,
            after=_summary(integration),
        )
    return integration


def authenticate(session: Session, *, secret: str) -> AlertIntegration:
    """The live integration a token belongs to, or Unauthenticated saying why."""
    found = session.scalar(
        select(AlertIntegration).where(AlertIntegration.token_hash == hash_token(secret))
    )
    if found is None:
        raise Unauthenticated("unknown integration token")
    if found.revoked_at is not None:
        raise Unauthenticated(f"integration '{found.name}' was revoked")
    return found


def rules_of(integration: AlertIntegration) -> list[CIRule]:
    """The integration's parsed CI rules."""
    return parse_rules(integration.ci_rules)


def integration_actor(integration: AlertIntegration) -> Actor:
    """Who the audit trail says acted when the integration sent alerts."""
    return Actor(name=f"integration:{integration.name}")
