"""Suggested problems: find recurring incidents, keep the evidence, accept or dismiss."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.db import utcnow
from flywheel.errors import Conflict, NotFound
from flywheel.incident import service as incident_service
from flywheel.problem import service as problems
from flywheel.problem.models import Problem, ProblemSuggestion
from flywheel.problem.schemas import ProblemCreate
from flywheel.problem.suggest import Rules, Suggestion, suggest


def compute(session: Session, *, rules: Rules, since: datetime | None = None) -> list[Suggestion]:
    """Recurrence groups among incidents not yet in a problem (nothing stored)."""
    incidents = incident_service.incidents_opened_between(session, since=since)
    taken = set(problems.linked_incident_ids(session))
    return suggest((problems.facts_of(i) for i in incidents), rules, exclude=taken)


def run(
    session: Session, *, actor: Actor, rules: Rules, since: datetime | None = None
) -> list[ProblemSuggestion]:
    """Store new suggestions (one already made, accepted or dismissed is not made again)."""
    found = compute(session, rules=rules, since=since)
    known = set(session.scalars(select(ProblemSuggestion.key)))
    made = []
    for item in found:
        if item.key in known:
            continue
        row = ProblemSuggestion(
            key=item.key,
            basis=item.basis,
            value=item.value[:400],
            incident_ids=item.incident_ids,
            evidence=item.evidence,
        )
        session.add(row)
        made.append(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="problem.suggest",
        object_type="problem_suggestion",
        object_id="run",
        after={"found": len(found), "new": len(made)},
    )
    return made


def list_suggestions(session: Session, *, state: str | None = "open") -> list[ProblemSuggestion]:
    """Suggestions, largest evidence first."""
    query = select(ProblemSuggestion)
    if state:
        query = query.where(ProblemSuggestion.state == state)
    rows = list(session.scalars(query.order_by(ProblemSuggestion.id)))
    return sorted(rows, key=lambda r: -len(r.incident_ids))


def _open(session: Session, suggestion_id: int) -> ProblemSuggestion:
    query = select(ProblemSuggestion).where(ProblemSuggestion.id == suggestion_id)
    row = session.scalar(query.with_for_update())
    if row is None:
        raise NotFound(f"no suggestion {suggestion_id}")
    if row.state != "open":
        raise Conflict(f"suggestion {suggestion_id} was already {row.state}")
    return row


def accept(
    session: Session, *, actor: Actor, suggestion_id: int, title: str | None = None
) -> Problem:
    """Make the suggestion a problem with its incidents (those not taken meanwhile)."""
    row = _open(session, suggestion_id)
    taken = set(problems.linked_incident_ids(session))
    free = [i for i in row.incident_ids if i not in taken]
    if not free:
        raise Conflict("every incident of this suggestion is in a problem already")
    data = ProblemCreate(title=title or f"Recurring: {row.value}"[:300], description=_why(row))
    problem = problems.create_problem(session, actor=actor, data=data, incident_ids=free)
    row.state, row.problem_id = "accepted", problem.id
    row.decided_by, row.decided_at = actor.name, utcnow()
    return problem


def dismiss(
    session: Session, *, actor: Actor, suggestion_id: int, reason: str
) -> ProblemSuggestion:
    """Not a problem: keep the decision so the same evidence is not suggested again."""
    row = _open(session, suggestion_id)
    row.state, row.decided_by, row.decided_at = "dismissed", actor.name, utcnow()
    row.evidence = {**row.evidence, "dismissed_because": reason}
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="problem.suggestion_dismiss",
        object_type="problem_suggestion",
        object_id=row.id,
        reason=reason or None,
    )
    return row


def _why(row: ProblemSuggestion) -> str:
    return f"Suggested from {len(row.incident_ids)} recurring incidents: {row.evidence.get('why')}"
