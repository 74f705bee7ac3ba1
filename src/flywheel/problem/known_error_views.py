"""API routes of known errors, backlog trackers and backlog webhook deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.http.deps import DbSession, require
from flywheel.incident import service as incident_service
from flywheel.problem import fix_service, known_error_service, outbox
from flywheel.problem import service as problems
from flywheel.problem.refs import parse
from flywheel.problem.schemas import (
    DeliveryOut,
    KnownErrorCreate,
    KnownErrorOut,
    MatchOut,
    SupersedeIn,
    TrackerIn,
    TrackerOut,
)

router = APIRouter(tags=["problems"])

Reader = Annotated[Actor, Depends(require(Permission.PROBLEM_READ))]
Manager = Annotated[Actor, Depends(require(Permission.PROBLEM_MANAGE))]
Admin = Annotated[Actor, Depends(require(Permission.INTEGRATION_MANAGE))]


@router.get("/known-errors", response_model=list[KnownErrorOut])
def list_known_errors(
    session: DbSession, _: Reader, include_inactive: bool = False, service: str | None = None
) -> list[KnownErrorOut]:
    """Known errors (active ones unless asked), newest first."""
    found = known_error_service.list_known_errors(
        session, active=None if include_inactive else True, service=service
    )
    return [KnownErrorOut.model_validate(k) for k in found]


@router.post("/known-errors", response_model=KnownErrorOut, status_code=status.HTTP_201_CREATED)
def create_known_error(data: KnownErrorCreate, session: DbSession, actor: Manager) -> KnownErrorOut:
    """Record a known error with its workaround (its problem becomes a known error)."""
    known = known_error_service.create(session, actor=actor, data=data)
    session.commit()
    return KnownErrorOut.model_validate(known)


@router.get("/known-errors/match", response_model=MatchOut)
def match(incident: str, session: DbSession, _: Reader) -> MatchOut:
    """Which known error an incident (42 or INC0000042) matches, following replacements."""
    found = incident_service.get_incident(session, incident_id=parse(incident, "incident"))
    known, chain = known_error_service.match(session, found)
    shown = KnownErrorOut.model_validate(known) if known else None
    return MatchOut(incident_id=found.id, known_error=shown, followed=chain)


@router.post("/known-errors/{known_error_id}/supersede", response_model=KnownErrorOut)
def supersede(
    known_error_id: int, data: SupersedeIn, session: DbSession, actor: Manager
) -> KnownErrorOut:
    """This known error is replaced by another; a circle of replacements is 409."""
    known = known_error_service.supersede(
        session,
        actor=actor,
        known_error_id=known_error_id,
        version=data.version,
        by_id=parse(data.by, "known error"),
    )
    session.commit()
    return KnownErrorOut.model_validate(known)


@router.get("/problem-trackers", response_model=list[TrackerOut])
def list_trackers(session: DbSession, _: Reader) -> list[TrackerOut]:
    """Trackers backlog items can be sent to."""
    return [TrackerOut.model_validate(t) for t in fix_service.list_trackers(session)]


@router.post("/problem-trackers", response_model=TrackerOut, status_code=status.HTTP_201_CREATED)
def create_tracker(data: TrackerIn, session: DbSession, actor: Admin) -> TrackerOut:
    """Register a team's tracker (GitHub- or Jira-shaped issue webhook)."""
    tracker = fix_service.create_tracker(session, actor=actor, data=data)
    session.commit()
    return TrackerOut.model_validate(tracker)


@router.get("/problems/{problem_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(problem_id: int, session: DbSession, _: Reader) -> list[DeliveryOut]:
    """The problem's backlog webhooks and how sending them went (failures shown)."""
    problems.get_problem(session, problem_id=problem_id)
    found = outbox.list_deliveries(session, problem_id=problem_id)
    return [DeliveryOut.model_validate(d) for d in found]


@router.post("/problem-deliveries/{delivery_id}/retry", response_model=DeliveryOut)
def retry_delivery(delivery_id: int, session: DbSession, actor: Manager) -> DeliveryOut:
    """Send a waiting or failed delivery again at the next pass."""
    delivery = outbox.retry(session, actor=actor, delivery_id=delivery_id)
    session.commit()
    return DeliveryOut.model_validate(delivery)
