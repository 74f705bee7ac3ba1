"""Problems: open them from incidents, move them, record the root cause, close and reopen."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput, NotFound, StaleVersion
from flywheel.incident import service as incident_service
from flywheel.incident.models import Incident
from flywheel.problem.lifecycle import (
    ProblemState,
    Resolution,
    RootCauseCategory,
    check_close,
    check_transition,
)
from flywheel.problem.models import Problem, ProblemEvent, ProblemFix, ProblemIncident
from flywheel.problem.schemas import ProblemCreate, RcaIn
from flywheel.problem.signatures import IncidentFacts, signature

S = ProblemState


def facts_of(incident: Incident) -> IncidentFacts:
    """What a signature is made from, read off an incident."""
    details = incident.details or {}
    alertname = incident.title.partition(" on ")[0] if incident.source == "alerts" else None
    return IncidentFacts(
        id=incident.id,
        opened_at_s=incident.opened_at.timestamp(),
        service=incident.service,
        title=incident.title,
        category=incident.category,
        subcategory=details.get("subcategory"),
        symptom=details.get("u_symptom"),
        ci=incident.ci_text or (incident.ci_keys[0] if incident.ci_keys else None),
        alertname=alertname,
    )


def get_problem(session: Session, *, problem_id: int, lock: bool = False) -> Problem:
    """A problem by id (locked for update when asked), or NotFound."""
    query = select(Problem).where(Problem.id == problem_id)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"no problem {problem_id}")
    return found


def for_update(session: Session, problem_id: int, version: int) -> Problem:
    """The problem, locked, if it is still at `version`; StaleVersion otherwise."""
    problem = get_problem(session, problem_id=problem_id, lock=True)
    if problem.version != version:
        raise StaleVersion(
            f"{problem.number} is at version {problem.version}, not {version}: reload and retry",
            details={"current_version": problem.version},
        )
    return problem


def list_problems(
    session: Session,
    *,
    state: str | None = None,
    category: str | None = None,
    service: str | None = None,
    cursor: int | None = None,
    limit: int = 100,
) -> list[Problem]:
    """Problems, newest first; state 'open' means not closed."""
    query = select(Problem)
    if state == "open":
        query = query.where(Problem.state != S.CLOSED.value)
    elif state:
        query = query.where(Problem.state == state)
    if category:
        query = query.where(Problem.category == category)
    if service:
        query = query.where(Problem.service == service)
    if cursor:
        query = query.where(Problem.id < cursor)
    return list(session.scalars(query.order_by(Problem.id.desc()).limit(limit)))


def summary(problem: Problem) -> dict[str, Any]:
    """What the audit log keeps of a problem's state."""
    return {"state": problem.state, "category": problem.category, "title": problem.title}


def log(
    session: Session,
    problem: Problem,
    *,
    kind: str,
    actor: Actor,
    text: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Append to the problem's own history."""
    session.add(
        ProblemEvent(problem_id=problem.id, kind=kind, actor=actor.name, summary=text, data=data)
    )


def _audit(
    session: Session,
    problem: Problem,
    *,
    actor: Actor,
    action: str,
    before: dict[str, Any] | None,
    reason: str | None = None,
) -> None:
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"problem.{action}",
        object_type="problem",
        object_id=problem.number,
        before=before,
        after=summary(problem),
        reason=reason,
    )


def _incidents(session: Session, ids: list[int]) -> list[Incident]:
    found = incident_service.incidents_by_ids(session, ids=ids)
    missing = sorted(set(ids) - {i.id for i in found})
    if missing:
        raise InvalidInput(f"no incident(s) {', '.join(f'INC{m:07d}' for m in missing)}")
    return found


def create_problem(
    session: Session, *, actor: Actor, data: ProblemCreate, incident_ids: list[int]
) -> Problem:
    """Open a problem by hand, from none or more incidents."""
    if len(set(incident_ids)) != len(incident_ids):
        raise InvalidInput("an incident is listed twice")
    incidents = _incidents(session, incident_ids)
    _check_unlinked(session, incident_ids)
    if not data.service and not incidents:
        raise InvalidInput("name the service, or give at least one incident")
    signatures = Counter(signature(facts_of(i)) for i in incidents)
    problem = Problem(
        title=data.title,
        description=data.description,
        state=S.NEW.value,
        service=data.service or Counter(i.service for i in incidents).most_common(1)[0][0],
        ci_keys=sorted({k for i in incidents for k in i.ci_keys}),
        signature=signatures.most_common(1)[0][0][:400] if signatures else None,
        owner=data.owner,
        created_by=actor.name,
    )
    session.add(problem)
    session.flush()
    log(session, problem, kind="opened", actor=actor, text=f"opened by {actor.name}")
    _audit(session, problem, actor=actor, action="create", before=None)
    for incident in incidents:
        attach_incident(session, problem, incident, actor=actor, reason="manual")
    return problem


def _check_unlinked(session: Session, incident_ids: list[int]) -> None:
    query = select(ProblemIncident.incident_id, ProblemIncident.problem_id).where(
        ProblemIncident.incident_id.in_(incident_ids)
    )
    taken = [f"INC{i:07d} (PRB{p:07d})" for i, p in session.execute(query)]
    if taken:
        raise Conflict(f"already linked to a problem: {', '.join(taken)}")


def attach_incident(
    session: Session, problem: Problem, incident: Incident, *, actor: Actor, reason: str
) -> None:
    session.add(
        ProblemIncident(
            problem_id=problem.id, incident_id=incident.id, reason=reason, linked_by=actor.name
        )
    )
    text = f"linked to {problem.number} ({problem.title})"
    data = {"problem": problem.number, "problem_id": problem.id, "reason": reason}
    incident_service.add_event(
        session, incident, kind="problem.linked", actor=actor, summary=text, data=data
    )
    log(session, problem, kind="incident.linked", actor=actor, text=f"{incident.number} ({reason})")


def link_incidents(
    session: Session, *, actor: Actor, problem_id: int, incident_ids: list[int]
) -> Problem:
    """Link more incidents to a problem; one already in a problem is a conflict."""
    problem = get_problem(session, problem_id=problem_id, lock=True)
    if len(set(incident_ids)) != len(incident_ids):
        raise InvalidInput("an incident is listed twice")
    incidents = _incidents(session, incident_ids)
    _check_unlinked(session, incident_ids)
    for incident in incidents:
        attach_incident(session, problem, incident, actor=actor, reason="manual")
        if problem.state in (S.RESOLVED.value, S.CLOSED.value):
            reopen_on_recurrence(session, problem, incident, actor=actor)
    problem.updated_at = utcnow()
    _audit(session, problem, actor=actor, action="link", before=None, reason=str(incident_ids))
    return problem


def linked_incident_ids(session: Session, *, problem_id: int | None = None) -> list[int]:
    """Ids of the incidents in a problem (in any problem when none is given)."""
    query = select(ProblemIncident.incident_id)
    if problem_id is not None:
        query = query.where(ProblemIncident.problem_id == problem_id)
    return list(session.scalars(query.order_by(ProblemIncident.id)))


def links(session: Session, *, problem_id: int) -> list[ProblemIncident]:
    """The problem's incident links in order."""
    query = select(ProblemIncident).where(ProblemIncident.problem_id == problem_id)
    return list(session.scalars(query.order_by(ProblemIncident.id)))


def move(
    session: Session, *, actor: Actor, problem_id: int, version: int, state: S, note: str = ""
) -> Problem:
    """A plain lifecycle move (investigate, known error); closing and routing have their own."""
    problem = for_update(session, problem_id, version)
    if state in (S.CLOSED, S.RESOLVED, S.FIX_IN_PROGRESS):
        raise InvalidInput(f"use the {_HOW[state]} action to make a problem {state.value}")
    return move_to(session, problem, state, actor=actor, note=note)


_HOW = {S.CLOSED: "close", S.RESOLVED: "verify (fix deployed)", S.FIX_IN_PROGRESS: "route"}


def move_to(session: Session, problem: Problem, target: S, *, actor: Actor, note: str) -> Problem:
    """One legal move with its history entry and audit event (callers checked the version)."""
    check_transition(S(problem.state), target)
    before = summary(problem)
    problem.state = target.value
    problem.updated_at = utcnow()
    text = f"{before['state']} → {target.value}" + (f": {note}" if note else "")
    log(session, problem, kind="state", actor=actor, text=text)
    _audit(session, problem, actor=actor, action=target.value, before=before, reason=note or None)
    return problem


def record_rca(session: Session, *, actor: Actor, problem_id: int, data: RcaIn) -> Problem:
    """Record (part of) the root-cause analysis; the first root cause stops the RCA clock."""
    problem = for_update(session, problem_id, data.version)
    if problem.state == S.CLOSED.value:
        raise Conflict(f"{problem.number} is closed: reopen it to change its analysis")
    before = summary(problem)
    if data.five_whys is not None:
        problem.five_whys = [w.strip() for w in data.five_whys if w.strip()]
    if data.contributing_factors is not None:
        problem.contributing_factors = [f.strip() for f in data.contributing_factors if f.strip()]
    if data.changes_involved is not None:
        problem.changes_involved = data.changes_involved
    elif not problem.changes_involved:
        problem.changes_involved = suspect_changes(session, problem_id=problem.id)
    if data.root_cause is not None:
        problem.root_cause = data.root_cause
    if data.category is not None:
        problem.category = data.category.value
    if problem.root_cause and problem.category and problem.root_cause_at is None:
        problem.root_cause_at = utcnow()
    if problem.state == S.NEW.value:
        move_to(session, problem, S.INVESTIGATING, actor=actor, note="analysis started")
    problem.updated_at = utcnow()
    log(session, problem, kind="rca", actor=actor, text="root-cause analysis updated")
    _audit(session, problem, actor=actor, action="rca", before=before)
    return problem


def suspect_changes(session: Session, *, problem_id: int, per_incident: int = 3) -> list[str]:
    """Changes the linked incidents suspect (their top deployments' changes), best first."""
    scored: dict[int, float] = {}
    for incident_id in linked_incident_ids(session, problem_id=problem_id):
        found = incident_service.suspect_changes(session, incident_id=incident_id)
        for change_id, score in found[:per_incident]:
            scored[change_id] = max(score, scored.get(change_id, 0.0))
    ranked = sorted(scored, key=lambda c: (-scored[c], c))
    return [f"CHG{c:07d}" for c in ranked]


def open_fix_count(session: Session, *, problem_id: int) -> int:
    """How many of the problem's fixes are still open."""
    query = select(func.count(ProblemFix.id)).where(
        ProblemFix.problem_id == problem_id, ProblemFix.state == "open"
    )
    return int(session.scalar(query) or 0)


def close(
    session: Session,
    *,
    actor: Actor,
    problem_id: int,
    version: int,
    resolution: Resolution,
    note: str = "",
) -> Problem:
    """Close a problem: fixed (after its fix was verified) or duplicate/cancelled/accepted."""
    problem = for_update(session, problem_id, version)
    check_close(S(problem.state), resolution, open_fix_count(session, problem_id=problem.id))
    problem.resolution = resolution.value
    problem.closed_at = utcnow()
    return move_to(session, problem, S.CLOSED, actor=actor, note=note or resolution.value)


def resolve(session: Session, problem: Problem, *, actor: Actor, note: str) -> Problem:
    """The fix is in production: → resolved, the quiet period starts."""
    problem.resolved_at = utcnow()
    return move_to(session, problem, S.RESOLVED, actor=actor, note=note)


def close_quietly(session: Session, problem: Problem, *, actor: Actor, note: str) -> Problem:
    """No recurrence through the quiet period: resolved → closed as fixed."""
    problem.resolution = Resolution.FIXED.value
    problem.closed_at = utcnow()
    return move_to(session, problem, S.CLOSED, actor=actor, note=note)


def reopen_on_recurrence(
    session: Session, problem: Problem, incident: Incident, *, actor: Actor
) -> Problem:
    """A matching incident after the fix: back to investigating, and say so everywhere."""
    problem.reopen_count += 1
    problem.last_recurrence_at = incident.opened_at
    problem.resolution = None
    problem.resolved_at = problem.closed_at = None
    note = f"recurrence: {incident.number} matched after the fix; reopened"
    incident_service.add_event(
        session,
        incident,
        kind="problem.recurrence",
        actor=actor,
        summary=f"{problem.number} was fixed but this looks like it again: problem reopened",
        data={"problem": problem.number},
    )
    return move_to(session, problem, S.INVESTIGATING, actor=actor, note=note)


def events(session: Session, *, problem_id: int) -> list[ProblemEvent]:
    """The problem's own history in order."""
    query = select(ProblemEvent).where(ProblemEvent.problem_id == problem_id)
    return list(session.scalars(query.order_by(ProblemEvent.id)))


def incident_timeline(session: Session, *, problem_id: int, per_incident: int = 200) -> list[Any]:
    """(incident number, event) of every linked incident's timeline, in time order."""
    pulled = []
    for link in links(session, problem_id=problem_id):
        number = f"INC{link.incident_id:07d}"
        for event in incident_service.timeline(
            session, incident_id=link.incident_id, limit=per_incident
        ):
            pulled.append((number, event))
    return sorted(pulled, key=lambda pair: pair[1].at)


def time_to_root_cause_s(problem: Problem) -> float | None:
    """Seconds from opening to the root cause being recorded."""
    if problem.root_cause_at is None:
        return None
    return (problem.root_cause_at - problem.created_at).total_seconds()


def category_of(problem: Problem) -> RootCauseCategory | None:
    """The problem's root-cause category, if recorded."""
    return RootCauseCategory(problem.category) if problem.category else None


def all_problems(session: Session, *, since: datetime | None = None) -> list[Problem]:
    """Every problem (opened since `since`), for measures."""
    query = select(Problem)
    if since is not None:
        query = query.where(Problem.created_at >= since)
    return list(session.scalars(query.order_by(Problem.id)))


def count_by(session: Session, column: str, *, open_only: bool = True) -> dict[str, int]:
    """How many problems per state or per root-cause category ('' = none yet)."""
    key = Problem.state if column == "state" else Problem.category
    query = select(key, func.count(Problem.id)).group_by(key)
    if open_only:
        query = query.where(Problem.state != S.CLOSED.value)
    return {(value or ""): int(n) for value, n in session.execute(query)}
