"""The step journal of a run: each action's start (and which process ran it) and end, audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.db import utcnow
from flywheel.deploy.models import DeploymentStep
from flywheel.errors import NotFound


def begin_step(
    session: Session,
    *,
    deployment_id: int,
    seq: int,
    phase: str,
    batch: int,
    action: str,
    instances: list[str],
    runner: str = "",
) -> None:
    """Record that a step started (again, when a run resumes), and which process runs it."""
    step = session.scalar(
        select(DeploymentStep).where(
            DeploymentStep.deployment_id == deployment_id, DeploymentStep.seq == seq
        )
    )
    if step is None:
        step = DeploymentStep(deployment_id=deployment_id, seq=seq, detail={})
        session.add(step)
    step.phase, step.batch, step.action, step.instances = phase, batch, action, instances
    before = step.detail or {}
    attempts, runners = int(before.get("attempts", 0)) + 1, [*before.get("runners", []), runner]
    step.state, step.detail, step.started_at, step.finished_at = (
        "running",
        {"attempts": attempts, "runners": runners},
        utcnow(),
        None,
    )


def finish_step(
    session: Session,
    *,
    actor: Actor,
    deployment_id: int,
    seq: int,
    state: str,
    detail: dict[str, Any],
) -> None:
    """Record how a step ended, audited."""
    step = session.scalar(
        select(DeploymentStep).where(
            DeploymentStep.deployment_id == deployment_id, DeploymentStep.seq == seq
        )
    )
    if step is None:
        raise NotFound(f"deployment {deployment_id} has no step {seq}")
    step.state, step.finished_at = state, utcnow()
    step.detail = {**(step.detail or {}), **detail}
    audit.record(
        session,
        actor=actor,
        action=f"deploy.step.{step.action}",
        object_type="deployment",
        object_id=deployment_id,
        after={
            "seq": seq,
            "phase": step.phase,
            "batch": step.batch,
            "instances": step.instances,
            "state": state,
            **detail,
        },
    )
