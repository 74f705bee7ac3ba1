"""API routes of automatic rollback: per-service policies and the decisions taken."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.http.deps import DbSession, require
from flywheel.incident import autorollback_policies as policies
from flywheel.incident import service
from flywheel.incident.autorollback_schemas import (
    DecisionOut,
    EffectivePolicyOut,
    PolicyIn,
    PolicyOut,
)

router = APIRouter(tags=["incidents"])

Reader = Annotated[Actor, Depends(require(Permission.INCIDENT_READ))]
Manager = Annotated[Actor, Depends(require(Permission.ROLLBACK_POLICY_MANAGE))]


@router.get("/autorollback-policies", response_model=list[PolicyOut])
def list_policies(session: DbSession, _: Reader) -> list[PolicyOut]:
    """Every service's own automatic-rollback policy."""
    return [PolicyOut.model_validate(p) for p in policies.list_policies(session)]


@router.get("/autorollback-policies/{service_key}", response_model=EffectivePolicyOut)
def effective_policy(
    service_key: str, request: Request, session: DbSession, _: Reader
) -> EffectivePolicyOut:
    """The policy that applies to a service: its own, else the server's settings."""
    policy = policies.effective(session, service=service_key, settings=request.app.state.settings)
    return EffectivePolicyOut(
        service=service_key,
        **{**policy.as_dict(), "environments": list(policy.environments)},
        description=policy.describe(),
    )


@router.put("/autorollback-policies/{service_key}", response_model=PolicyOut)
def put_policy(service_key: str, data: PolicyIn, session: DbSession, actor: Manager) -> PolicyOut:
    """Set a service's policy (to replace one, send the version you read; stale → 409)."""
    found = policies.put_policy(session, actor=actor, service=service_key, data=data)
    session.commit()
    return PolicyOut.model_validate(found)


@router.delete("/autorollback-policies/{service_key}", response_model=PolicyOut)
def remove_policy(service_key: str, session: DbSession, actor: Manager) -> PolicyOut:
    """Drop a service's own policy; the settings apply again."""
    found = policies.remove_policy(session, actor=actor, service=service_key)
    shown = PolicyOut.model_validate(found)
    session.commit()
    return shown


@router.get("/incidents/{incident_id}/autorollback", response_model=list[DecisionOut])
def incident_decisions(incident_id: int, session: DbSession, _: Reader) -> list[DecisionOut]:
    """What the automatic-rollback policy decided for an incident."""
    service.get_incident(session, incident_id=incident_id)
    return [
        DecisionOut.model_validate(d)
        for d in policies.decisions_of(session, incident_id=incident_id)
    ]
