"""Which change caused an incident: suspects, one-action rollback, confirmed causes."""

from __future__ import annotations

import contextlib

from sqlalchemy.orm import Session

from flywheel.auth.actor import Actor
from flywheel.change import service as change_service
from flywheel.cmdb import service as cmdb_service
from flywheel.deploy import service as deploy_service
from flywheel.deploy.models import Deployment
from flywheel.errors import Conflict, NotFound
from flywheel.incident import service
from flywheel.incident.models import Incident
from flywheel.incident.suspects import LOOKBACK, Candidate, Suspect, rank

POOL = "service_pool"


def _distances(session: Session, incident: Incident) -> dict[str, int]:
    """The failing service (0) and every CI it needs, by CMDB distance."""
    distances = {incident.service: 0}
    for key in incident.ci_keys or []:
        distances.setdefault(key, 0)
    if incident.service_known:
        try:
            report = cmdb_service.dependencies(session, key=incident.service)
        except NotFound:
            return distances
        for dep in report.dependencies:
            distances.setdefault(dep.key, dep.depth)
    return distances


def _candidate(session: Session, dep: Deployment, distances: dict[str, int]) -> Candidate:
    risk = None
    if dep.change_id is not None:
        risk = change_service.get_change(session, change_id=dep.change_id).risk_score
    distance = min(distances.get(dep.service, 99), distances.get(dep.pool, 99))
    return Candidate(
        deployment_id=dep.id,
        change_id=dep.change_id,
        service=dep.service,
        version=dep.version_label,
        state=dep.state,
        started_at=dep.started_at or dep.created_at,
        finished_at=dep.finished_at,
        distance=distance,
        risk_score=risk,
    )


def suspects_of(session: Session, *, incident_id: int) -> list[Suspect]:
    """Deployments that may have caused the incident, most likely first."""
    incident = service.get_incident(session, incident_id=incident_id)
    distances = _distances(session, incident)
    found = deploy_service.started_between(
        session,
        services=list(distances),
        pools=list(distances),
        start=incident.opened_at - LOOKBACK,
        end=incident.opened_at,
    )
    candidates = [_candidate(session, d, distances) for d in found if d.rollback_of is None]
    return rank(candidates, detected_at=incident.opened_at)


def roll_back_suspect(
    session: Session, *, actor: Actor, incident_id: int, deployment_id: int, reason: str
) -> Deployment:
    """Roll back a suspect deployment from the incident, on its timeline."""
    incident = service.get_incident(session, incident_id=incident_id)
    why = f"{incident.number}: {reason}" if reason else f"rolled back from {incident.number}"
    rollback = deploy_service.roll_back(
        session, actor=actor, deployment_id=deployment_id, reason=why
    )
    summary = f"rollback of deployment {deployment_id} requested (run {rollback.id})"
    data = {"deployment_id": deployment_id, "rollback_id": rollback.id, "reason": reason}
    service.add_event(session, incident, kind="rollback", actor=actor, summary=summary, data=data)
    return rollback


def confirm_cause(
    session: Session, *, actor: Actor, incident_id: int, change_id: int, note: str
) -> None:
    """Record that a change caused the incident: linked, and the change counts as failed."""
    incident = service.get_incident(session, incident_id=incident_id)
    with contextlib.suppress(Conflict):  # linked already: confirming the cause is what is new
        service.link_change(
            session, actor=actor, incident_id=incident_id, change_id=change_id, note=note
        )
    change = change_service.record_failure(
        session, actor=actor, change_id=change_id, reason=f"caused {incident.number}. {note}"
    )
    service.add_event(
        session,
        incident,
        kind="cause.confirmed",
        actor=actor,
        summary=f"{change.number} confirmed as the cause",
        data={"change_id": change.id},
    )
