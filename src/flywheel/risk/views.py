"""API routes of the risk domain."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, status

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.change import service as change_service
from flywheel.db import utcnow
from flywheel.http.deps import DbSession, require
from flywheel.risk import service
from flywheel.risk.rules import ChangeFacts
from flywheel.risk.schemas import RiskModelOut, ScoreOut, ScoreRequest, TrainRequest

router = APIRouter(prefix="/risk", tags=["risk"])

Reader = Annotated[Actor, Depends(require(Permission.CHANGE_READ))]
Governor = Annotated[Actor, Depends(require(Permission.CHANGE_POLICY_MANAGE))]


@router.post("/score", response_model=ScoreOut)
def score(data: ScoreRequest, session: DbSession, _: Reader) -> ScoreOut:
    """Score a change from its metrics: the model in service, or the rules without one."""
    metrics = data.metrics
    facts = ChangeFacts(
        change_type=data.change_type,
        lines_added=int(metrics["la"]) if "la" in metrics else None,
        lines_deleted=int(metrics["ld"]) if "ld" in metrics else None,
        files=int(metrics["nf"]) if "nf" in metrics else None,
        service_criticality=data.service_criticality,
        tenants_affected=data.tenants_affected,
        code_metrics=metrics,
    )
    risk = service.assess_change(session, facts=facts)
    return ScoreOut(
        score=risk.score,
        level=risk.level,
        explanation=list(risk.explanation),
        model_version=risk.model_version,
    )


@router.get("/models", response_model=list[RiskModelOut])
def list_models(session: DbSession, _: Reader) -> list[RiskModelOut]:
    """Stored models, newest first, with their held-out metrics."""
    return [RiskModelOut.model_validate(m) for m in service.list_models(session)]


@router.post("/models", response_model=RiskModelOut, status_code=status.HTTP_201_CREATED)
def train(data: TrainRequest, session: DbSession, actor: Governor) -> RiskModelOut:
    """Train a candidate on recent finished changes (failed or rolled back = failing)."""
    history = change_service.labelled_history(
        session, since=utcnow() - timedelta(days=30 * data.months)
    )
    row = service.train_and_store(
        session,
        actor=actor,
        rows=[metrics for metrics, _, _ in history],
        labels=[label for _, label, _ in history],
        dates=[when for _, _, when in history],
        source=f"flywheel changes, last {data.months} months",
    )
    session.commit()
    return RiskModelOut.model_validate(row)


@router.post("/models/{version}/promote", response_model=RiskModelOut)
def promote(version: str, session: DbSession, actor: Governor, force: bool = False) -> RiskModelOut:
    """Put a candidate in service if it is not worse on held-out data than the current one."""
    row = service.promote(session, actor=actor, version=version, force=force)
    session.commit()
    return RiskModelOut.model_validate(row)
