"""Per-service automatic-rollback policies; services without one follow the settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.config import Settings
from flywheel.db import utcnow
from flywheel.errors import Conflict, NotFound, StaleVersion
from flywheel.incident.autorollback_models import AutoRollbackDecision, AutoRollbackPolicy
from flywheel.incident.autorollback_policy import RollbackPolicy
from flywheel.incident.autorollback_schemas import PolicyIn

_FIELDS = ("enabled", "min_score", "window_minutes", "environments", "max_distance")


def _summary(policy: AutoRollbackPolicy) -> dict[str, Any]:
    return {k: getattr(policy, k) for k in _FIELDS}


def _find(session: Session, service: str) -> AutoRollbackPolicy | None:
    return session.scalar(select(AutoRollbackPolicy).where(AutoRollbackPolicy.service == service))


def get_policy(session: Session, *, service: str) -> AutoRollbackPolicy:
    """The service's own policy, or NotFound."""
    found = _find(session, service)
    if found is None:
        raise NotFound(f"no automatic-rollback policy for '{service}'")
    return found


def list_policies(session: Session) -> list[AutoRollbackPolicy]:
    """Every service's own policy, by service."""
    return list(session.scalars(select(AutoRollbackPolicy).order_by(AutoRollbackPolicy.service)))


def put_policy(
    session: Session, *, actor: Actor, service: str, data: PolicyIn
) -> AutoRollbackPolicy:
    """Create a service's policy, or replace it (the version read is required then)."""
    found = _find(session, service)
    values = data.model_dump(include=set(_FIELDS))
    values["environments"] = sorted({e.strip() for e in data.environments if e.strip()})
    if found is None:
        if data.version is not None:
            raise StaleVersion(f"'{service}' has no policy yet: create it without a version")
        found = AutoRollbackPolicy(service=service, created_by=actor.name, **values)
        session.add(found)
        before = None
    else:
        if data.version is None:
            raise Conflict(
                f"'{service}' already has a policy (version {found.version}): send its version",
                details={"current_version": found.version},
            )
        if data.version != found.version:
            raise StaleVersion(
                f"the policy of '{service}' is at version {found.version}, not {data.version}",
                details={"current_version": found.version},
            )
        before = _summary(found)
        for key, value in values.items():
            setattr(found, key, value)
    found.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="autorollback_policy.put",
        object_type="autorollback_policy",
        object_id=service,
        before=before,
        after=_summary(found),
    )
    return found


def remove_policy(session: Session, *, actor: Actor, service: str) -> AutoRollbackPolicy:
    """Drop a service's policy: the settings apply to it again."""
    found = get_policy(session, service=service)
    before = _summary(found)
    session.delete(found)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="autorollback_policy.delete",
        object_type="autorollback_policy",
        object_id=service,
        before=before,
    )
    return found


def from_settings(settings: Settings) -> RollbackPolicy:
    """The policy of services that have none of their own."""
    envs = tuple(e.strip() for e in settings.autorollback_environments.split(",") if e.strip())
    return RollbackPolicy(
        enabled=settings.autorollback_enabled,
        min_score=settings.autorollback_min_score,
        window_minutes=settings.autorollback_window_minutes,
        environments=envs,
        max_distance=settings.autorollback_max_distance,
        origin="settings",
    )


def effective(session: Session, *, service: str, settings: Settings) -> RollbackPolicy:
    """The policy that applies to a service: its own, else the settings'."""
    found = _find(session, service)
    if found is None:
        return from_settings(settings)
    return RollbackPolicy(
        enabled=found.enabled,
        min_score=found.min_score,
        window_minutes=found.window_minutes,
        environments=tuple(found.environments),
        max_distance=found.max_distance,
        origin=f"policy of {service} v{found.version}",
    )


def decisions_of(session: Session, *, incident_id: int) -> list[AutoRollbackDecision]:
    """What the policy decided for an incident, oldest first."""
    query = select(AutoRollbackDecision).where(AutoRollbackDecision.incident_id == incident_id)
    return list(session.scalars(query.order_by(AutoRollbackDecision.id)))
