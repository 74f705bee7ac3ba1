"""What each durable step of a run does, on its own short transactions (no DBOS here)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from flywheel.auth.actor import system_actor
from flywheel.cmdb import service as cmdb_service
from flywheel.db import Database
from flywheel.deploy import actions, service
from flywheel.deploy.actions import StepFailed
from flywheel.deploy.models import Deployment
from flywheel.deploy.pool import toolkit_for
from flywheel.deploy.schemas import RolloutSettings
from flywheel.release import service as release_service
from flywheel.vault import service as vault_service

log = logging.getLogger("flywheel.deploy")
ACTOR = system_actor("deploy")
GATE_RECHECK_S = 2.0


class _Aborted(Exception):
    """The run was asked to abort (or roll back) before this action."""


class _Paused(Exception):
    """The run waits (paused, or a gate fails); the workflow asks again later."""


def begin_run(db: Database, deployment_id: int, workflow_id: str) -> dict[str, Any]:
    """Mark the run as running (once) and return its plan."""
    with db.session(write=True) as session:
        dep = session.get(Deployment, deployment_id)
        if dep is None or dep.workflow_id != workflow_id:
            log.error("workflow %s has no deployment %s: nothing to do", workflow_id, deployment_id)
            return {"finished": True, "state": "missing", "batches": []}
        finished = dep.state in service.FINAL_STATES
        if dep.state == "pending":
            service.set_state(
                session, actor=ACTOR, deployment=dep, state="running", reason="started"
            )
        session.commit()
        return {"finished": finished, "state": dep.state, "batches": dep.plan["batches"]}


def finish_run(
    db: Database, deployment_id: int, state: str, reason: str, evidence: dict[str, Any]
) -> str:
    """Close the run (idempotent): final state, pool released, change closed."""
    with db.session(write=True) as session:
        dep = service.get_deployment(session, deployment_id=deployment_id)
        if dep.state not in service.FINAL_STATES:
            service.set_state(
                session, actor=ACTOR, deployment=dep, state=state, reason=reason, evidence=evidence
            )
        session.commit()
        return dep.state


def _control(db: Database, deployment_id: int) -> str | None:
    with db.session() as session:
        return service.get_deployment(session, deployment_id=deployment_id).control


def _set_state(db: Database, deployment_id: int, state: str, reason: str) -> None:
    with db.session(write=True) as session:
        dep = service.get_deployment(session, deployment_id=deployment_id)
        if dep.state != state or dep.status_reason != reason:
            service.set_state(session, actor=ACTOR, deployment=dep, state=state, reason=reason)
        session.commit()


def _failing_gates(session: Session, dep: Deployment) -> list[dict[str, Any]]:
    gates = release_service.evaluate_gates(
        session,
        service=dep.service,
        environment=dep.environment,
        version=dep.version_label,
        change_id=dep.change_id,
        release_id=dep.release_id,
    )
    return [g for g in gates if g["status"] == "fail"]


def _what_if(session: Session, batch: list[str]) -> dict[str, Any]:
    report = cmdb_service.impact(session, keys=batch, top_tenants=0)
    down = [s.key for s in report.business_services if s.status == "down"]
    if down:
        raise StepFailed(
            f"taking {', '.join(batch)} out would take down {', '.join(down)} (CMDB what-if)"
        )
    return {"what_if": report.summary}


def _gate(db: Database, dep_id: int, batch: list[str], rollback_of: int | None) -> dict[str, Any]:
    """Before a batch: honour pause/abort, re-check the gates, ask the CMDB's what-if."""
    control = _control(db, dep_id)
    if control in ("abort", "rollback"):
        raise _Aborted(f"{control} requested")
    with db.session() as session:
        dep = service.get_deployment(session, deployment_id=dep_id)
        failing = [] if rollback_of or control == "override" else _failing_gates(session, dep)
    if control == "pause" or failing:
        why = (
            "paused on request"
            if control == "pause"
            else "; ".join(f"{g['gate']}: {g['reason']}" for g in failing)
        )
        _set_state(db, dep_id, "paused", why)
        raise _Paused(why)
    _set_state(db, dep_id, "running", "running")
    with db.session() as session:
        return _what_if(session, batch)


def _load(db: Database, dep_id: int) -> Deployment:
    with db.session() as session:
        dep = service.get_deployment(session, deployment_id=dep_id)
        session.expunge(dep)
        return dep


# Rollback actions that bring an instance back; skipped for one whose previous version is
# unknown, so it stays stopped and out of rotation instead of restarting the bad version.
_RESTORING = ("start", "wait_healthy", "enable")


def _versions(dep: Deployment, phase: str) -> dict[str, str]:
    if phase == "rollback":
        previous: dict[str, str | None] = dep.plan["previous"]
        return {k: v for k, v in previous.items() if v}
    targets: dict[str, str] = dep.plan.get("target_versions") or {}
    return {i["key"]: targets.get(i["key"], dep.version_label) for i in dep.drivers["instances"]}


def _perform(
    db: Database,
    dep: Deployment,
    phase: str,
    action: str,
    instances: list[str],
    updated: list[str],
) -> dict[str, Any]:
    if action == "gate":
        return _gate(db, dep.id, instances, dep.rollback_of)
    if action == "rolling_back":
        _set_state(db, dep.id, "rolling_back", "rolling back")
        return {}
    if phase == "deploy" and _control(db, dep.id) in ("abort", "rollback"):
        raise _Aborted("abort requested")
    versions = _versions(dep, phase)
    left_stopped: list[str] = []
    if phase == "rollback" and action in _RESTORING:
        left_stopped = [k for k in instances if k not in versions]
        instances = [k for k in instances if k in versions]
        if not instances:
            return {"left_stopped": left_stopped, "why": "previous version unknown"}
    kit = toolkit_for(
        dep.drivers,
        RolloutSettings(**dep.settings),
        pool=dep.pool,
        should_stop=lambda: phase == "deploy" and _control(db, dep.id) in ("abort", "rollback"),
        credentials=vault_service.lookup_through(db),
    )
    detail = actions.perform(kit, action, instances, versions=versions, updated=updated)
    if action == "bake":
        _check_alerts(db, dep)
    if left_stopped:
        return {**detail, "left_stopped": left_stopped, "why": "previous version unknown"}
    return detail


# Other domains' checks of a baking batch (the incident domain adds "alerts on the service").
BAKE_CHECKS: list[Callable[[Session, str, datetime], str | None]] = []


def _check_alerts(db: Database, dep: Deployment) -> None:
    """Fail the batch when a check says something went wrong on the service since the start."""
    since = dep.started_at or dep.created_at
    with db.session() as session:
        for check in BAKE_CHECKS:
            problem = check(session, dep.service, since)
            if problem:
                raise StepFailed(problem)


def act(
    db: Database,
    deployment_id: int,
    seq: int,
    phase: str,
    batch: int,
    action: str,
    instances: list[str],
    updated: list[str],
    runner: str = "",
) -> dict[str, Any]:
    """Do one action and record it; the outcome is ok, failed, abort or paused, never raised."""
    with db.session(write=True) as session:
        service.begin_step(
            session,
            deployment_id=deployment_id,
            seq=seq,
            phase=phase,
            batch=batch,
            action=action,
            instances=instances,
            runner=runner,
        )
        session.commit()
    dep = _load(db, deployment_id)
    outcome, reason, detail = "ok", "", {}
    try:
        detail = _perform(db, dep, phase, action, instances, updated)
    except _Aborted as exc:
        outcome, reason = "abort", str(exc)
    except _Paused as exc:
        outcome, reason = "paused", str(exc)
    except StepFailed as exc:
        outcome, reason, detail = "failed", str(exc), exc.detail
    except Exception as exc:  # a driver bug must still end in a rollback, not a stuck run
        log.exception("deployment %s step %s (%s) failed", deployment_id, seq, action)
        outcome, reason = "failed", f"{type(exc).__name__}: {exc}"
    state = {"ok": "done", "failed": "failed", "abort": "skipped", "paused": "waiting"}[outcome]
    with db.session(write=True) as session:
        service.finish_step(
            session,
            actor=ACTOR,
            deployment_id=deployment_id,
            seq=seq,
            state=state,
            detail={**detail, "reason": reason} if reason else detail,
        )
        session.commit()
    return {
        "outcome": outcome,
        "reason": reason,
        "action": action,
        "batch": batch,
        "detail": detail,
        "retry_s": GATE_RECHECK_S,
    }
