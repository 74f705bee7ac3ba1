"""What alert intake does for problems: known-error workarounds at once, recurrences reopen."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flywheel.auth.actor import Actor
from flywheel.config import get_settings
from flywheel.errors import Conflict
from flywheel.incident import service as incident_service
from flywheel.incident.intake import IntakeResult
from flywheel.incident.models import Incident
from flywheel.problem import known_error_service
from flywheel.problem import service as problems
from flywheel.problem.lifecycle import ProblemState, Resolution
from flywheel.problem.models import KnownError, Problem, ProblemIncident
from flywheel.problem.signatures import signature

log = logging.getLogger(__name__)
REACTION = "problem.known_errors"


def _incident_id(number: str) -> int:
    return int(number.removeprefix("INC"))


def react(session: Session, result: IntakeResult, actor: Actor, now: datetime) -> None:
    """New or reopened incidents: attach a matching known error; reopen a fixed problem."""
    numbers = result.incidents_opened + result.incidents_reopened
    if not numbers:
        return
    incidents = incident_service.incidents_by_ids(session, ids=[_incident_id(n) for n in numbers])
    if session.scalar(select(func.count(KnownError.id))):
        for incident in incidents:
            _known_error(session, incident, actor)
    quiet = timedelta(days=get_settings().problem_quiet_period_days)
    fixed = _recently_fixed(session, since=now - quiet)
    if fixed:
        for incident in incidents:
            _recurrence(session, incident, fixed, actor)


def _known_error(session: Session, incident: Incident, actor: Actor) -> None:
    try:
        known, _ = known_error_service.match(session, incident)
    except Conflict:  # a replacement loop must never fail alert intake
        log.warning("known-error replacements loop; %s not matched", incident.number)
        return
    if known is not None:
        known_error_service.attach(session, incident, known, actor=actor)


def _recently_fixed(session: Session, *, since: datetime) -> list[Problem]:
    """Problems whose fix is being verified, or that closed as fixed within the quiet period."""
    query = select(Problem).where(
        (Problem.state == ProblemState.RESOLVED.value)
        | (
            (Problem.state == ProblemState.CLOSED.value)
            & (Problem.resolution == Resolution.FIXED.value)
            & (Problem.closed_at >= since)
        )
    )
    return list(session.scalars(query.where(Problem.signature.is_not(None))))


def _recurrence(session: Session, incident: Incident, fixed: list[Problem], actor: Actor) -> None:
    taken = select(ProblemIncident.id).where(ProblemIncident.incident_id == incident.id)
    if session.scalar(taken) is not None:
        return
    found = signature(problems.facts_of(incident))
    for problem in fixed:
        if problem.signature == found and problem.service == incident.service:
            _reopen(session, problem.id, incident, actor)
            return


def _reopen(session: Session, problem_id: int, incident: Incident, actor: Actor) -> None:
    """Link and reopen under the row lock: a concurrent intake may have reopened it already."""
    query = select(Problem).where(Problem.id == problem_id).with_for_update()
    problem = session.scalars(query.execution_options(populate_existing=True)).one()
    problems.attach_incident(session, problem, incident, actor=actor, reason="recurrence")
    if problem.state in (ProblemState.RESOLVED.value, ProblemState.CLOSED.value):
        problems.reopen_on_recurrence(session, problem, incident, actor=actor)
