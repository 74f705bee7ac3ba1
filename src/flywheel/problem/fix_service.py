"""Fix routing and tracking: backlog items, change requests, tasks; fixes verified by changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.change import service as change_service
from flywheel.change.lifecycle import ChangeType, CloseCode
from flywheel.change.schemas import ChangeCreate
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput, NotFound
from flywheel.problem import service as problems
from flywheel.problem.lifecycle import ProblemState, RootCauseCategory, check_route
from flywheel.problem.models import Delivery, Problem, ProblemChange, ProblemFix, Tracker
from flywheel.problem.refs import problem_numbers_in
from flywheel.problem.routing import Route, backlog_body, check_task, route_for
from flywheel.problem.schemas import RouteIn, TrackerIn

S = ProblemState


def create_tracker(session: Session, *, actor: Actor, data: TrackerIn) -> Tracker:
    """Register a team's tracker for backlog items."""
    if session.scalar(select(Tracker.id).where(Tracker.name == data.name)) is not None:
        raise Conflict(f"tracker '{data.name}' exists")
    tracker = Tracker(
        name=data.name,
        kind=data.kind,
        url=str(data.url),
        project=data.project,
        created_by=actor.name,
    )
    session.add(tracker)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="problem_tracker.create",
        object_type="problem_tracker",
        object_id=tracker.name,
        after={"kind": tracker.kind, "url": tracker.url},
    )
    return tracker


def list_trackers(session: Session) -> list[Tracker]:
    """The configured trackers."""
    return list(session.scalars(select(Tracker).order_by(Tracker.name)))


def _tracker(session: Session, name: str | None) -> Tracker:
    if not name:
        raise InvalidInput("a software fix needs the tracker its backlog item goes to")
    found = session.scalar(select(Tracker).where(Tracker.name == name))
    if found is None:
        raise InvalidInput(f"unknown tracker '{name}'")
    return found


def fixes(session: Session, *, problem_id: int) -> list[ProblemFix]:
    """The problem's fixes in order."""
    query = select(ProblemFix).where(ProblemFix.problem_id == problem_id)
    return list(session.scalars(query.order_by(ProblemFix.id)))


def route(session: Session, *, actor: Actor, problem_id: int, data: RouteIn) -> ProblemFix:
    """Send the fix where its root cause says it belongs, and track it."""
    problem = problems.for_update(session, problem_id, data.version)
    category = problems.category_of(problem)
    check_route(S(problem.state), category)
    assert category is not None
    kind = route_for(category)
    title = data.title or f"Fix {problem.number}: {problem.title}"
    fix = ProblemFix(problem_id=problem.id, route=kind.value, title=title, created_by=actor.name)
    if kind is Route.BACKLOG:
        _backlog(session, problem, fix, _tracker(session, data.tracker))
    elif kind is Route.CHANGE:
        _change_request(session, problem, fix, actor=actor)
    else:
        check_task(data.owner, data.due_date, utcnow().date())
        default = "vendor" if category is RootCauseCategory.THIRD_PARTY else "runbook"
        fix.owner, fix.due_date = data.owner, data.due_date
        fix.data = {"kind": data.task_kind or default}
        session.add(fix)
    session.flush()
    problems.log(session, problem, kind="routed", actor=actor, text=f"{kind.value}: {title}")
    if problem.state != S.FIX_IN_PROGRESS.value:
        problems.move_to(
            session, problem, S.FIX_IN_PROGRESS, actor=actor, note=f"fix: {kind.value}"
        )
    problem.updated_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="problem.route",
        object_type="problem",
        object_id=problem.number,
        after={"route": kind.value, "fix_id": fix.id, "change": fix.change_number},
    )
    return fix


def _facts(session: Session, problem: Problem) -> dict[str, Any]:
    incidents = [
        f"INC{i:07d}" for i in problems.linked_incident_ids(session, problem_id=problem.id)
    ]
    return {
        "number": problem.number,
        "title": problem.title,
        "service": problem.service,
        "root_cause": problem.root_cause,
        "five_whys": problem.five_whys,
        "incidents": incidents,
    }


def _backlog(session: Session, problem: Problem, fix: ProblemFix, tracker: Tracker) -> None:
    fix.tracker = tracker.name
    session.add(fix)
    session.flush()
    payload = backlog_body(_facts(session, problem), tracker.kind, tracker.project)
    fix.data = {"shape": tracker.kind}
    session.add(
        Delivery(
            problem_id=problem.id,
            fix_id=fix.id,
            tracker=tracker.name,
            url=tracker.url,
            payload=payload,
        )
    )


def _change_request(session: Session, problem: Problem, fix: ProblemFix, *, actor: Actor) -> None:
    description = (
        f"Fixes {problem.number}.\n\nRoot cause: {problem.root_cause}\n\n"
        f"Contributing factors: {'; '.join(problem.contributing_factors) or 'none recorded'}"
    )
    data = ChangeCreate(
        type=ChangeType.NORMAL,
        service=problem.service,
        cis=problem.ci_keys,
        title=fix.title[:300],
        description=description,
        external_id=f"{problem.number}-fix-{len(fixes(session, problem_id=problem.id)) + 1}",
    )
    change, _ = change_service.open_change(session, actor=actor, data=data)
    fix.change_number = change.number
    session.add(fix)
    session.add(
        ProblemChange(
            problem_id=problem.id,
            change_id=change.id,
            change_number=change.number,
            found_in="routing",
            state=_change_state(change.state, change.close_code),
        )
    )


def finish_fix(
    session: Session, *, actor: Actor, problem_id: int, fix_id: int, outcome: str, note: str
) -> ProblemFix:
    """A task is done, or any fix is cancelled; a backlog or change fix is done by its change."""
    problem = problems.get_problem(session, problem_id=problem_id, lock=True)
    fix = session.scalar(
        select(ProblemFix).where(ProblemFix.id == fix_id, ProblemFix.problem_id == problem.id)
    )
    if fix is None:
        raise NotFound(f"{problem.number} has no fix {fix_id}")
    if fix.state != "open":
        raise Conflict(f"fix {fix_id} is already {fix.state}")
    if outcome == "done" and fix.route != Route.TASK.value:
        raise Conflict("a backlog or change fix is done when its change is deployed, not by hand")
    fix.state, fix.done_at = outcome, utcnow()
    fix.data = {**fix.data, "note": note}
    problems.log(session, problem, kind=f"fix.{outcome}", actor=actor, text=f"{fix.title}: {note}")
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"problem.fix_{outcome}",
        object_type="problem",
        object_id=problem.number,
        after={"fix_id": fix.id},
        reason=note or None,
    )
    return fix


_IN_PRODUCTION = (CloseCode.SUCCESSFUL.value, CloseCode.SUCCESSFUL_WITH_ISSUES.value)


def _change_state(state: str, close_code: str | None) -> str:
    if close_code in _IN_PRODUCTION and state in ("review", "closed"):
        return "deployed"
    if close_code in ("failed", "rolled_back") or state in ("rejected", "cancelled"):
        return "failed"
    return "open"


def _mentions(change: Any) -> set[int]:
    texts = [change.title, change.description, str(change.links or {})]
    texts += [c.message for c in change.commits]
    return set().union(*(problem_numbers_in(t) for t in texts))


def link_changes(session: Session) -> list[str]:
    """Link changes that name an open problem; mark fixes done when their change deployed."""
    active = problems.list_problems(session, state="open", limit=10_000)
    by_id = {p.id: p for p in active if p.state != S.NEW.value}
    words = [p.number for p in by_id.values()]
    linked: list[str] = []
    for change, where in change_service.changes_mentioning(session, words=words):
        for problem_id in _mentions(change) & set(by_id):
            if _record_link(session, by_id[problem_id], change, where):
                linked.append(f"{change.number}→{by_id[problem_id].number}")
    session.flush()
    return linked


def _record_link(session: Session, problem: Problem, change: Any, where: str) -> bool:
    row = session.scalar(
        select(ProblemChange).where(
            ProblemChange.problem_id == problem.id, ProblemChange.change_id == change.id
        )
    )
    state = _change_state(change.state, change.close_code)
    new = row is None
    if row is None:
        row = ProblemChange(
            problem_id=problem.id, change_id=change.id, change_number=change.number, found_in=where
        )
        session.add(row)
        problems.log(
            session,
            problem,
            kind="change.linked",
            actor=_SYSTEM,
            text=f"{change.number} names {problem.number} in its {where}",
        )
    row.state = state
    if state == "deployed":
        _fixes_done_by(session, problem, change.number)
    return new


def _fixes_done_by(session: Session, problem: Problem, change_number: str) -> None:
    for fix in fixes(session, problem_id=problem.id):
        by_this = fix.route == Route.BACKLOG.value or fix.change_number == change_number
        if fix.state == "open" and fix.route != Route.TASK.value and by_this:
            fix.state, fix.done_at = "done", utcnow()
            fix.data = {**fix.data, "deployed_by": change_number}


def changes(session: Session, *, problem_id: int) -> list[ProblemChange]:
    """Changes that carry the problem's fix."""
    query = select(ProblemChange).where(ProblemChange.problem_id == problem_id)
    return list(session.scalars(query.order_by(ProblemChange.id)))


_SYSTEM = Actor(name="system:problem")
