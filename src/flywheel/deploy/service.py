"""Deployment runs: create (gated and planned), read, control, and the run's own records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.change import service as change_service
from flywheel.change.lifecycle import CloseCode
from flywheel.db import utcnow
from flywheel.deploy import planner
from flywheel.deploy.drivers.base import DriverError
from flywheel.deploy.models import Deployment, DeploymentStep, PoolLock
from flywheel.deploy.pool import PoolSetup, resolve_pool, toolkit_for
from flywheel.deploy.schemas import DeploymentCreate, RolloutSettings
from flywheel.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StaleVersion
from flywheel.release import service as release_service
from flywheel.vault import service as vault_service

ACTIVE_STATES = ("pending", "running", "paused", "rolling_back")
FINAL_STATES = ("succeeded", "rolled_back", "failed", "aborted")
CONTROLS = ("pause", "resume", "abort", "rollback")


def _plan(setup: PoolSetup, settings: RolloutSettings) -> list[list[str]]:
    try:
        return planner.plan_batches(
            [i.key for i in setup.instances],
            min_up=setup.min_up,
            batch_size=settings.batch_size,
            max_unavailable=settings.max_unavailable,
            max_surge=settings.max_surge,
        )
    except planner.PlanError as exc:
        raise InvalidInput(f"cannot plan a rolling bounce of '{setup.pool}': {exc}") from exc


def _preflight(
    session: Session, setup: PoolSetup, settings: RolloutSettings
) -> dict[str, str | None]:
    """Check the load balancer answers and knows every instance; the versions running now."""
    credentials = vault_service.lookup_in(session)
    kit = toolkit_for(setup.as_record(), settings, pool=setup.pool, credentials=credentials)
    try:
        known = {s.server for s in kit.lb.stats(kit.backend)}
    except DriverError as exc:
        raise Conflict(f"the load balancer of '{setup.pool}' does not answer: {exc}") from exc
    missing = sorted(
        server for _, server in kit.servers(list(kit.instances)) if server not in known
    )
    balanced = setup.load_balancer.get("driver", "none") != "none"
    if balanced and not known:
        raise InvalidInput(f"the load balancer has no backend '{kit.backend}' (or it is empty)")
    if known and missing:
        raise InvalidInput(
            f"backend '{kit.backend}' of the load balancer has no server {', '.join(missing)}: "
            "fix the instances' lb_server attributes"
        )
    return {i.key: kit.target.running_version(i) for i in setup.instances}


def _check_gates(
    session: Session, *, actor: Actor, data: DeploymentCreate, setup: PoolSetup
) -> list[dict[str, Any]]:
    results = release_service.evaluate_gates(
        session,
        service=setup.service,
        environment=data.environment,
        version=data.version,
        change_id=data.change_id,
        release_id=data.release_id,
    )
    failing = [g for g in results if g["status"] == "fail"]
    if failing and data.override_gates is None:
        reasons = "; ".join(f"{g['gate']}: {g['reason']}" for g in failing)
        raise Conflict(f"deployment blocked by gate(s) — {reasons}")
    if failing:
        if not actor.can(Permission.DEPLOY_OVERRIDE):
            raise PermissionDenied("overriding a deployment gate needs the deploy:override role")
        assert data.override_gates is not None
        for g in failing:
            g["overridden"] = {"by": actor.name, "reason": data.override_gates.reason}
    return results


def create_deployment(session: Session, *, actor: Actor, data: DeploymentCreate) -> Deployment:
    """Gate, plan and record a run; the caller commits, then starts the run."""
    setup = resolve_pool(session, service=data.service, pool=data.pool)
    batches = _plan(setup, data.settings)
    gates = _check_gates(session, actor=actor, data=data, setup=setup)
    previous = _preflight(session, setup, data.settings)
    known = sorted({v for v in previous.values() if v})
    deployment = Deployment(
        service=setup.service,
        pool=setup.pool,
        environment=data.environment,
        version_label=data.version,
        previous_version=known[0] if len(known) == 1 else ",".join(known) or None,
        change_id=data.change_id,
        release_id=data.release_id,
        workflow_id=uuid.uuid4().hex,
        state="pending",
        settings=data.settings.model_dump(),
        plan={"batches": batches, "previous": previous, "min_up": setup.min_up},
        drivers=setup.as_record(),
        gates=gates,
        control="override" if data.override_gates else None,
        requested_by=actor.name,
        requested_by_user_id=actor.user_id,
    )
    session.add(deployment)
    session.flush()
    _lock_pool(session, deployment)
    audit.record(
        session,
        actor=actor,
        action="deploy.create",
        object_type="deployment",
        object_id=deployment.id,
        after={"pool": setup.pool, "version": data.version, "batches": batches, "gates": gates},
        reason=data.override_gates.reason if data.override_gates else None,
    )
    return deployment


def _lock_pool(session: Session, deployment: Deployment) -> None:
    holder = session.scalar(select(PoolLock).where(PoolLock.pool == deployment.pool))
    if holder is not None:
        raise Conflict(
            f"pool '{deployment.pool}' is being deployed by deployment {holder.deployment_id}: "
            "wait for it to finish or abort it"
        )
    try:
        with session.begin_nested():
            session.add(PoolLock(pool=deployment.pool, deployment_id=deployment.id))
    except IntegrityError as exc:
        raise Conflict(f"pool '{deployment.pool}' is being deployed by another run") from exc


def get_deployment(session: Session, *, deployment_id: int) -> Deployment:
    """A deployment by id, or NotFound."""
    found = session.get(Deployment, deployment_id)
    if found is None:
        raise NotFound(f"no deployment {deployment_id}")
    return found


def list_deployments(
    session: Session,
    *,
    service: str | None = None,
    state: str | None = None,
    after_id: int = 0,
    limit: int = 100,
    newest_first: bool = False,
    before_id: int | None = None,
) -> list[Deployment]:
    """Deployments, oldest first (or newest first)."""
    query = select(Deployment).where(Deployment.id > after_id)
    if before_id is not None:
        query = query.where(Deployment.id < before_id)
    if service:
        query = query.where(Deployment.service == service)
    if state:
        query = query.where(Deployment.state == state)
    order = Deployment.id.desc() if newest_first else Deployment.id
    return list(session.scalars(query.order_by(order).limit(limit)))


def finished_since(session: Session, *, since: datetime) -> list[tuple[datetime, str]]:
    """(finished at, final state) of every run that finished since a time, oldest first."""
    query = (
        select(Deployment.finished_at, Deployment.state)
        .where(Deployment.finished_at >= since, Deployment.state.in_(FINAL_STATES))
        .order_by(Deployment.finished_at)
    )
    return [(at, state) for at, state in session.execute(query).all() if at is not None]


def steps_of(session: Session, *, deployment_id: int, after_seq: int = 0) -> list[DeploymentStep]:
    """A run's steps in order (those after a sequence number)."""
    query = select(DeploymentStep).where(
        DeploymentStep.deployment_id == deployment_id, DeploymentStep.seq > after_seq
    )
    return list(session.scalars(query.order_by(DeploymentStep.seq)))


def active_deployments(session: Session) -> list[Deployment]:
    """Runs not finished yet (to resume after a restart)."""
    query = select(Deployment).where(Deployment.state.in_(ACTIVE_STATES))
    return list(session.scalars(query.order_by(Deployment.id)))


def request_control(
    session: Session,
    *,
    actor: Actor,
    deployment_id: int,
    control: str,
    reason: str,
    expected_version: int | None = None,
    override_gates: bool = False,
) -> Deployment:
    """Ask a running deployment to pause, resume, abort or roll back."""
    if control not in CONTROLS:
        raise InvalidInput(f"unknown control '{control}': use one of {', '.join(CONTROLS)}")
    deployment = get_deployment(session, deployment_id=deployment_id)
    if expected_version is not None and expected_version != deployment.version:
        raise StaleVersion(f"deployment {deployment_id} changed (version {deployment.version})")
    if deployment.state in FINAL_STATES:
        raise Conflict(f"deployment {deployment_id} is {deployment.state}: nothing to {control}")
    if control == "resume" and deployment.state != "paused" and deployment.control != "pause":
        raise Conflict(f"deployment {deployment_id} is {deployment.state}, not paused")
    if override_gates and not actor.can(Permission.DEPLOY_OVERRIDE):
        raise PermissionDenied("overriding a deployment gate needs the deploy:override role")
    before = deployment.control
    if control == "resume":
        deployment.control = "override" if override_gates or before == "override" else None
    else:
        deployment.control = control
    deployment.updated_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action=f"deploy.{control}",
        object_type="deployment",
        object_id=deployment.id,
        before={"control": before, "state": deployment.state},
        after={"control": deployment.control},
        reason=reason or None,
    )
    return deployment


def set_state(
    session: Session,
    *,
    actor: Actor,
    deployment: Deployment,
    state: str,
    reason: str,
    evidence: dict[str, Any] | None = None,
) -> None:
    """Move a run to a new state; a final state releases the pool and closes the change."""
    before = deployment.state
    deployment.state, deployment.status_reason = state, reason
    deployment.updated_at = utcnow()
    if state == "running" and deployment.started_at is None:
        deployment.started_at = utcnow()
    if evidence:
        deployment.evidence = {**(deployment.evidence or {}), **evidence}
    if state in FINAL_STATES:
        deployment.finished_at = utcnow()
        deployment.control = None
        session.execute(delete(PoolLock).where(PoolLock.deployment_id == deployment.id))
    audit.record(
        session,
        actor=actor,
        action="deploy.state",
        object_type="deployment",
        object_id=deployment.id,
        before={"state": before},
        after={"state": state, "reason": reason},
    )
    _sync_change(session, actor=actor, deployment=deployment, state=state, reason=reason)


_CLOSE_CODES = {
    "succeeded": CloseCode.SUCCESSFUL,
    "rolled_back": CloseCode.ROLLED_BACK,
    "failed": CloseCode.FAILED,
    "aborted": CloseCode.ROLLED_BACK,
}


def _sync_change(
    session: Session, *, actor: Actor, deployment: Deployment, state: str, reason: str
) -> None:
    if deployment.change_id is None or deployment.rollback_of is not None:
        return
    if state == "running":
        change_service.begin_implementation(session, actor=actor, change_id=deployment.change_id)
    elif state in FINAL_STATES:
        change_service.finish_implementation(
            session,
            actor=actor,
            change_id=deployment.change_id,
            close_code=_CLOSE_CODES[state],
            notes=f"deployment {deployment.id}: {reason}",
        )


def started_between(
    session: Session,
    *,
    services: list[str],
    start: datetime,
    end: datetime,
    pools: list[str] | None = None,
) -> list[Deployment]:
    """Deployments of these services (or pools) that ran in a time range (for suspects)."""
    target = or_(Deployment.service.in_(services), Deployment.pool.in_(pools or []))
    query = select(Deployment).where(
        target,
        Deployment.created_at <= end,
        (Deployment.finished_at.is_(None)) | (Deployment.finished_at >= start),
    )
    return list(session.scalars(query.order_by(Deployment.id.desc()).limit(200)))


def last_success(
    session: Session, *, service: str, environment: str, version: str
) -> datetime | None:
    """When this version of a service last finished deploying successfully to an environment."""
    query = select(Deployment.finished_at).where(
        Deployment.service == service,
        Deployment.environment == environment,
        Deployment.version_label == version,
        Deployment.state == "succeeded",
    )
    return session.scalar(query.order_by(Deployment.finished_at.desc()).limit(1))


def roll_back(session: Session, *, actor: Actor, deployment_id: int, reason: str) -> Deployment:
    """Undo a run: in flight it rolls back its batches; once succeeded, a new run restores."""
    original = get_deployment(session, deployment_id=deployment_id)
    if original.state in ACTIVE_STATES:
        return request_control(
            session, actor=actor, deployment_id=deployment_id, control="rollback", reason=reason
        )
    if original.state != "succeeded":
        raise Conflict(f"deployment {deployment_id} is {original.state}: nothing to roll back")
    previous: dict[str, str | None] = original.plan["previous"]
    targets = {k: v for k, v in previous.items() if v}
    if not targets:
        raise Conflict(f"deployment {deployment_id} recorded no previous versions to restore")
    deployment = Deployment(
        service=original.service,
        pool=original.pool,
        environment=original.environment,
        version_label=original.previous_version or ",".join(sorted(set(targets.values()))),
        previous_version=original.version_label,
        change_id=original.change_id,
        release_id=None,
        rollback_of=original.id,
        workflow_id=uuid.uuid4().hex,
        state="pending",
        settings=original.settings,
        plan={
            "batches": original.plan["batches"],
            "previous": dict.fromkeys(previous, original.version_label),
            "target_versions": targets,
            "min_up": original.plan.get("min_up", 0),
        },
        drivers=original.drivers,
        gates=[{"gate": "rollback", "status": "skip", "reason": "rollbacks are not gated"}],
        requested_by=actor.name,
        requested_by_user_id=actor.user_id,
    )
    session.add(deployment)
    session.flush()
    _lock_pool(session, deployment)
    audit.record(
        session,
        actor=actor,
        action="deploy.rollback",
        object_type="deployment",
        object_id=deployment.id,
        after={"rollback_of": original.id, "versions": targets},
        reason=reason or None,
    )
    return deployment


# Read-only queries for service levels and delivery metrics (issue 9) live in reports.py.
from flywheel.deploy.external import ExternalRun as ExternalRun  # noqa: E402
from flywheel.deploy.external import record_external_deployment as record_external_deployment  # noqa: E402
from flywheel.deploy.reports import bake_traffic as bake_traffic  # noqa: E402
from flywheel.deploy.reports import delivered_before as delivered_before  # noqa: E402
from flywheel.deploy.reports import delivery_milestones as delivery_milestones  # noqa: E402
from flywheel.deploy.reports import delivery_runs as delivery_runs  # noqa: E402
from flywheel.deploy.reports import deployment_counts as deployment_counts  # noqa: E402
from flywheel.deploy.reports import lead_time_query as lead_time_query  # noqa: E402
from flywheel.deploy.reports import rollback_runs as rollback_runs  # noqa: E402
from flywheel.deploy.reports import waiting_runs as waiting_runs  # noqa: E402
from flywheel.deploy.steps import begin_step as begin_step  # noqa: E402
from flywheel.deploy.steps import finish_step as finish_step  # noqa: E402
