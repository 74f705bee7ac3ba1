"""Known errors: record them, match incidents to them, hand the workaround to responders."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.errors import Conflict, InvalidInput, NotFound, StaleVersion
from flywheel.incident import service as incident_service
from flywheel.incident.models import Incident
from flywheel.problem import service as problems
from flywheel.problem.lifecycle import ProblemState
from flywheel.problem.matching import Pattern, best_match, follow
from flywheel.problem.models import KnownError, ProblemIncident
from flywheel.problem.refs import parse
from flywheel.problem.schemas import KnownErrorCreate

EVENT_KIND = "known_error"


def get_known_error(session: Session, *, known_error_id: int, lock: bool = False) -> KnownError:
    """A known error by id, or NotFound."""
    query = select(KnownError).where(KnownError.id == known_error_id)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"no known error {known_error_id}")
    return found


def list_known_errors(
    session: Session, *, active: bool | None = True, service: str | None = None
) -> list[KnownError]:
    """Known errors, newest first."""
    query = select(KnownError)
    if active is not None:
        query = query.where(KnownError.active == active)
    if service:
        query = query.where(KnownError.service == service)
    return list(session.scalars(query.order_by(KnownError.id.desc())))


def create(session: Session, *, actor: Actor, data: KnownErrorCreate) -> KnownError:
    """Record a known error; its problem (if any) becomes a known error too."""
    if not (data.ci or data.signature or data.text):
        raise InvalidInput("a known error needs a ci, a signature or a text to recognise it by")
    problem = None
    if data.problem:
        problem = problems.get_problem(
            session, problem_id=parse(data.problem, "problem"), lock=True
        )
        if problem.state == ProblemState.CLOSED.value:
            raise Conflict(f"{problem.number} is closed: its error is no longer known-open")
    known = KnownError(
        problem_id=problem.id if problem else None,
        title=data.title,
        service=data.service or (problem.service if problem else None),
        ci=data.ci,
        signature=data.signature,
        text=data.text,
        workaround=data.workaround,
        created_by=actor.name,
    )
    session.add(known)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="known_error.create",
        object_type="known_error",
        object_id=known.number,
        after={"title": known.title, "problem": problem.number if problem else None},
    )
    if problem is not None and problem.state == ProblemState.INVESTIGATING.value:
        problems.move(
            session,
            actor=actor,
            problem_id=problem.id,
            version=problem.version,
            state=ProblemState.KNOWN_ERROR,
            note=f"{known.number}: workaround recorded",
        )
    return known


def supersede(
    session: Session, *, actor: Actor, known_error_id: int, version: int, by_id: int
) -> KnownError:
    """Replace a known error by another; a replacement chain may not loop."""
    known = get_known_error(session, known_error_id=known_error_id, lock=True)
    if known.version != version:
        raise StaleVersion(f"{known.number} is at version {known.version}, not {version}")
    other = get_known_error(session, known_error_id=by_id)
    if other.id == known.id:
        raise Conflict(f"{known.number} cannot replace itself")
    chain = {k.id: k.superseded_by for k in list_known_errors(session, active=None)}
    chain[known.id] = other.id
    follow(known.id, chain)
    known.superseded_by, known.active = other.id, False
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="known_error.supersede",
        object_type="known_error",
        object_id=known.number,
        after={"superseded_by": other.number},
    )
    return known


def _pattern(known: KnownError) -> Pattern:
    return Pattern(known.id, known.service, known.ci, known.signature, known.text)


def match(session: Session, incident: Incident) -> tuple[KnownError | None, list[str]]:
    """The known error the incident shows (after following replacements) and the chain."""
    every = list_known_errors(session, active=None)
    candidates = [_pattern(k) for k in every if k.active or k.superseded_by is not None]
    found = best_match(candidates, problems.facts_of(incident))
    if found is None:
        return None, []
    by_id = {k.id: k for k in every}
    chain = follow(found.id, {k.id: k.superseded_by for k in every})
    return by_id[chain[-1]], [by_id[i].number for i in chain]


def already_told(session: Session, incident: Incident, known: KnownError) -> bool:
    """Whether the incident already carries this known error's workaround."""
    return any(
        e.kind == EVENT_KIND and (e.data or {}).get("known_error") == known.number
        for e in incident_service.timeline(session, incident_id=incident.id)
    )


def attach(session: Session, incident: Incident, known: KnownError, *, actor: Actor) -> bool:
    """Give the responder the workaround on the incident's timeline (once); link its problem."""
    if already_told(session, incident, known):
        return False
    incident_service.add_event(
        session,
        incident,
        kind=EVENT_KIND,
        actor=actor,
        summary=f"Known error {known.number}: {known.title}. Workaround: {known.workaround}",
        data={"known_error": known.number, "workaround": known.workaround},
    )
    # A plain counter update: versioned ORM writes would make concurrent intakes conflict.
    bump = (
        update(KnownError)
        .where(KnownError.id == known.id)
        .values(matched_count=KnownError.matched_count + 1)
    )
    session.execute(bump.execution_options(synchronize_session=False))
    if known.problem_id is not None:
        _link_problem(session, incident, known.problem_id, actor=actor)
    return True


def _link_problem(session: Session, incident: Incident, problem_id: int, *, actor: Actor) -> None:
    taken = session.scalar(
        select(ProblemIncident.id).where(ProblemIncident.incident_id == incident.id)
    )
    if taken is not None:
        return
    problem = problems.get_problem(session, problem_id=problem_id, lock=True)
    problems.attach_incident(session, problem, incident, actor=actor, reason="known_error")
    if problem.state in (ProblemState.RESOLVED.value, ProblemState.CLOSED.value):
        problems.reopen_on_recurrence(session, problem, incident, actor=actor)
