"""Automatic rollback: after an intake batch, roll back a new incident's top suspect by policy.

Runs as an incident reaction inside the intake transaction: it decides, records the
decision (timeline, audit, one decision row per incident and deployment — a unique index
keeps a deployment from being rolled back automatically twice) and creates the rollback
run. The run's durable workflow starts after the commit; if the process dies first, the
run is pending in the database and resumes when the deployment engine next launches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor, system_actor
from flywheel.config import Settings, get_settings
from flywheel.db import Database
from flywheel.deploy import durable
from flywheel.deploy import service as deploy_service
from flywheel.errors import Conflict
from flywheel.incident import causes, reactions, service
from flywheel.incident.autorollback_models import DECLINED, ROLLED_BACK, AutoRollbackDecision
from flywheel.incident.autorollback_policies import effective
from flywheel.incident.autorollback_policy import RollbackPolicy, Verdict, judge
from flywheel.incident.intake import IntakeResult
from flywheel.incident.models import Incident
from flywheel.incident.suspects import Suspect

log = logging.getLogger("flywheel.autorollback")
ACTOR = system_actor("autorollback")
REACTION = "autorollback"
_PENDING = "autorollback_runs"


@dataclass
class _Runtime:
    database: Database | None = None
    settings: Settings | None = None


_runtime = _Runtime()


def install(database: Database, settings: Settings) -> None:
    """React to intake batches, starting rollbacks on this database's deployment engine."""
    _runtime.database, _runtime.settings = database, settings
    reactions.register(REACTION, react)


def react(session: Session, result: IntakeResult, actor: Actor, now: datetime) -> None:
    """Consider the top suspect of every incident the batch opened or reopened."""
    settings = _runtime.settings or get_settings()
    for number in dict.fromkeys(result.incidents_opened + result.incidents_reopened):
        incident_id = int(number.removeprefix("INC"))
        started = len(session.info.get(_PENDING, []))
        try:
            with session.begin_nested():  # a failure here must not lose the batch's alerts
                consider(session, incident_id=incident_id, settings=settings, now=now)
        except Exception:
            del session.info.get(_PENDING, [])[started:]  # runs of the undone savepoint
            log.exception("automatic rollback could not decide about %s", number)


def consider(
    session: Session, *, incident_id: int, settings: Settings, now: datetime
) -> AutoRollbackDecision | None:
    """Decide about an incident's top suspect once; None when there is nothing to decide."""
    suspects = causes.suspects_of(session, incident_id=incident_id)
    if not suspects:
        return None
    top = suspects[0]
    deployment_id = top.candidate.deployment_id
    if _decided(session, incident_id, deployment_id):
        return None
    incident = service.get_incident(session, incident_id=incident_id)
    policy = effective(session, service=incident.service, settings=settings)
    environment = deploy_service.get_deployment(session, deployment_id=deployment_id).environment
    verdict = judge(policy, top, environment=environment, now=now)
    earlier = _rolled_back_by(session, deployment_id)
    if verdict.allowed and earlier is not None:
        verdict = Verdict(False, f"it was already rolled back automatically for INC{earlier:07d}")
    rollback_id = None
    if verdict.allowed:
        rollback_id, verdict = _roll_back(session, incident, top, verdict)
    return _record(session, incident, top, policy, verdict, rollback_id, now)


def _decided(session: Session, incident_id: int, deployment_id: int) -> bool:
    query = select(AutoRollbackDecision.id).where(
        AutoRollbackDecision.incident_id == incident_id,
        AutoRollbackDecision.deployment_id == deployment_id,
    )
    return session.scalar(query) is not None


def _rolled_back_by(session: Session, deployment_id: int) -> int | None:
    query = select(AutoRollbackDecision.incident_id).where(
        AutoRollbackDecision.deployment_id == deployment_id,
        AutoRollbackDecision.outcome == ROLLED_BACK,
    )
    return session.scalar(query)


def _roll_back(
    session: Session, incident: Incident, top: Suspect, verdict: Verdict
) -> tuple[int | None, Verdict]:
    """Create the rollback run (in a savepoint: a refusal leaves the batch intact)."""
    deployment_id = top.candidate.deployment_id
    why = f"{incident.number}: rolled back automatically by policy"
    try:
        with session.begin_nested():
            run = deploy_service.roll_back(
                session, actor=ACTOR, deployment_id=deployment_id, reason=why
            )
    except Conflict as exc:
        return None, Verdict(False, f"the deployment engine refused: {exc.message}")
    if run.id != deployment_id:  # a new run restores the previous version
        _start_after_commit(session, run.id, run.workflow_id)
    return run.id, verdict


def _what(top: Suspect) -> str:
    c = top.candidate
    return f"deployment {c.deployment_id} ({c.service} {c.version})"


def _record(
    session: Session,
    incident: Incident,
    top: Suspect,
    policy: RollbackPolicy,
    verdict: Verdict,
    rollback_id: int | None,
    now: datetime,
) -> AutoRollbackDecision | None:
    outcome = ROLLED_BACK if verdict.allowed else DECLINED
    decision = AutoRollbackDecision(
        incident_id=incident.id,
        deployment_id=top.candidate.deployment_id,
        outcome=outcome,
        rollback_id=rollback_id,
        reason=verdict.reason,
        policy=policy.as_dict(),
        at=now,
    )
    try:
        with session.begin_nested():
            session.add(decision)
    except IntegrityError:  # another batch decided the same pair at the same moment
        return None
    if verdict.allowed:
        summary = f"rolled back {_what(top)} automatically: policy {policy.describe()}"
        # Same kind as a responder's rollback: service levels read the first one as mitigation.
        kind, action = "rollback", "incident.autorollback"
    else:
        summary = f"not rolled back automatically: {_what(top)}, because {verdict.reason}"
        kind, action = "rollback.declined", "incident.autorollback_declined"
    data: dict[str, Any] = {
        "automatic": True,
        "deployment_id": top.candidate.deployment_id,
        "rollback_id": rollback_id,
        "score": top.score,
        "reason": verdict.reason,
        "policy": policy.as_dict(),
    }
    service.add_event(session, incident, kind=kind, actor=ACTOR, summary=summary, data=data, at=now)
    audit.record(
        session,
        actor=ACTOR,
        action=action,
        object_type="incident",
        object_id=incident.number,
        after=data,
        reason=verdict.reason,
    )
    return decision


def _start_after_commit(session: Session, rollback_id: int, workflow_id: str) -> None:
    pending: list[tuple[int, str]] = session.info.setdefault(_PENDING, [])
    if not event.contains(session, "after_commit", _start_pending):
        event.listen(session, "after_commit", _start_pending)
        event.listen(session, "after_rollback", _forget_pending)
    pending.append((rollback_id, workflow_id))


def _forget_pending(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's end is not the batch's
        session.info.pop(_PENDING, None)


def _start_pending(session: Session) -> None:
    """Start the committed rollback runs; a failure leaves them pending, resumed at launch."""
    if session.in_nested_transaction():  # SQLAlchemy reports released savepoints here too
        return
    pending: list[tuple[int, str]] = session.info.pop(_PENDING, [])
    if not pending or _runtime.database is None or _runtime.settings is None:
        return
    try:
        for rollback_id, workflow_id in pending:
            durable.submit(_runtime.database, _runtime.settings, rollback_id, workflow_id)
    except Exception:  # the runs are committed as pending: the next launch resumes them
        log.exception("could not start automatic rollback run(s) %s", pending)
