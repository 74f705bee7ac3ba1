"""Deployments done by an external tool, recorded after the fact with their times and outcome.

No processes run: the run, its roll-out and bake steps and its final state are written as the
engine would have left them, audited, and the change follows (implementing → its outcome).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.cmdb import service as cmdb_service
from flywheel.db import backdated
from flywheel.deploy import service
from flywheel.deploy.models import Deployment, DeploymentStep
from flywheel.errors import InvalidInput, NotFound

POOL_TYPE = "service_pool"


@dataclass(frozen=True)
class ExternalRun:
    """What the external tool reports: where, which version, when, and how it ended."""

    service: str
    pool: str
    version: str
    started_at: datetime
    rolled_out_at: datetime
    finished_at: datetime
    state: str = "succeeded"
    environment: str = "production"
    change_id: int | None = None
    rollback_of: int | None = None
    previous_version: str | None = None
    requests: int = 0
    errors: int = 0
    reason: str = "recorded from an external deployment tool"


def _check(session: Session, run: ExternalRun) -> None:
    if run.state not in service.FINAL_STATES:
        raise InvalidInput(f"an external run is recorded finished, not '{run.state}'")
    if not run.started_at <= run.rolled_out_at <= run.finished_at:
        raise InvalidInput("an external run must start, roll out and finish in that order")
    if not 0 <= run.errors <= run.requests:
        raise InvalidInput("errors must be between 0 and the number of requests")
    try:
        pool = cmdb_service.get_ci(session, key=run.pool)
    except NotFound as exc:
        raise InvalidInput(f"unknown pool '{run.pool}'") from exc
    if pool.type != POOL_TYPE:
        raise InvalidInput(f"'{run.pool}' is a {pool.type}, not a {POOL_TYPE}")


def _steps(run: ExternalRun, deployment_id: int) -> list[DeploymentStep]:
    bake_state = "done" if run.state == "succeeded" else "failed"
    evidence = {"new": {"requests": run.requests, "errors": run.errors}}
    return [
        DeploymentStep(
            deployment_id=deployment_id,
            seq=seq,
            phase="deploy",
            batch=0,
            action=action,
            instances=[],
            state=state,
            detail=detail,
            started_at=start,
            finished_at=end,
        )
        for seq, action, state, detail, start, end in (
            (1, "enable", "done", {"external": True}, run.started_at, run.rolled_out_at),
            (2, "bake", bake_state, {"evidence": evidence}, run.rolled_out_at, run.finished_at),
        )
    ]


def record_external_deployment(session: Session, *, actor: Actor, run: ExternalRun) -> Deployment:
    """Record a finished run done by another tool; its change is implemented and closed out."""
    _check(session, run)
    with backdated(run.started_at):
        deployment = Deployment(
            service=run.service,
            pool=run.pool,
            environment=run.environment,
            version_label=run.version,
            previous_version=run.previous_version,
            change_id=run.change_id,
            rollback_of=run.rollback_of,
            workflow_id=f"external-{uuid.uuid4().hex}",
            state="running",
            started_at=run.started_at,
            plan={"batches": [], "previous": {}, "external": True},
            drivers={"driver": "external"},
            gates=[{"gate": "external", "status": "skip", "reason": "recorded after the fact"}],
            requested_by=actor.name,
            requested_by_user_id=actor.user_id,
        )
        session.add(deployment)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="deploy.record",
            object_type="deployment",
            object_id=deployment.id,
            after={"pool": run.pool, "version": run.version, "environment": run.environment},
            reason=run.reason,
        )
        service.set_state(session, actor=actor, deployment=deployment, state="running", reason="")
        session.add_all(_steps(run, deployment.id))
    with backdated(run.finished_at):
        service.set_state(
            session, actor=actor, deployment=deployment, state=run.state, reason=run.reason
        )
    return deployment
