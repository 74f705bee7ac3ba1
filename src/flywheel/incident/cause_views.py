"""API routes for an incident's suspect changes: ranked suspects, rollback, confirmed cause."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import Field

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.deploy import durable
from flywheel.deploy.schemas import DeploymentOut
from flywheel.errors import PermissionDenied
from flywheel.http.deps import DbSession, get_database, require
from flywheel.incident import causes
from flywheel.schemas import RequestModel, ResponseModel

router = APIRouter(tags=["incidents"])

Reader = Annotated[Actor, Depends(require(Permission.INCIDENT_READ))]
Responder = Annotated[Actor, Depends(require(Permission.INCIDENT_RESPOND))]


class SuspectOut(ResponseModel):
    """A deployment that may have caused the incident, and why it is suspected."""

    deployment_id: int
    change_id: int | None
    service: str
    version: str
    state: str
    started_at: datetime | None
    finished_at: datetime | None
    distance: int
    risk_score: float | None
    score: float
    reasons: list[str]


class RollbackIn(RequestModel):
    """Roll back a suspect deployment."""

    deployment_id: int = Field(ge=1)
    reason: str = Field(default="", max_length=2000)


class CauseIn(RequestModel):
    """The change that caused the incident."""

    change_id: int = Field(ge=1)
    note: str = Field(default="", max_length=2000)


@router.get("/incidents/{incident_id}/suspects", response_model=list[SuspectOut])
def incident_suspects(incident_id: int, session: DbSession, _: Reader) -> list[SuspectOut]:
    """Deployments near the failing service shortly before detection, most likely first."""
    return [
        SuspectOut(
            **{k: getattr(s.candidate, k) for k in s.candidate.__dataclass_fields__},
            score=s.score,
            reasons=s.reasons,
        )
        for s in causes.suspects_of(session, incident_id=incident_id)
    ]


@router.post(
    "/incidents/{incident_id}/rollback",
    response_model=DeploymentOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def roll_back_suspect(
    incident_id: int, data: RollbackIn, request: Request, session: DbSession, actor: Responder
) -> DeploymentOut:
    """Roll back a suspect deployment: one action for the responder."""
    if not actor.can(Permission.DEPLOY_RUN):
        raise PermissionDenied("rolling back a deployment needs the deploy:run permission")
    run = causes.roll_back_suspect(
        session,
        actor=actor,
        incident_id=incident_id,
        deployment_id=data.deployment_id,
        reason=data.reason,
    )
    session.commit()
    if run.id != data.deployment_id:
        settings = request.app.state.settings
        durable.submit(get_database(request), settings, run.id, run.workflow_id)
    return DeploymentOut.model_validate(run)


@router.post("/incidents/{incident_id}/cause", status_code=status.HTTP_204_NO_CONTENT)
def confirm_cause(incident_id: int, data: CauseIn, session: DbSession, actor: Responder) -> None:
    """Confirm the change that caused the incident; the change counts as failed."""
    causes.confirm_cause(
        session, actor=actor, incident_id=incident_id, change_id=data.change_id, note=data.note
    )
    session.commit()
