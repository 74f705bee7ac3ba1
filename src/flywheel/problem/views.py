"""API routes of problems: open, analyse, route, verify, close, suggest, measure."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import PlainTextResponse

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.db import Database, as_utc, utcnow
from flywheel.http.deps import DbSession, cursor_to_id, get_database, require
from flywheel.incident import service as incident_service
from flywheel.problem import fix_service, known_error_service, outbox, service, suggestion_service
from flywheel.problem import measures as measuring
from flywheel.problem.lifecycle import ProblemState, RootCauseCategory
from flywheel.problem.refs import parse
from flywheel.problem.routing import backlog_csv
from flywheel.problem.schemas import (
    CategoryMeasure,
    ChangeLinkOut,
    CloseIn,
    Decision,
    EventOut,
    FixDone,
    FixOut,
    IncidentLinkIn,
    KnownErrorOut,
    LinkedIncidentOut,
    MeasuresOut,
    ProblemCreate,
    ProblemDetail,
    ProblemOut,
    RcaIn,
    RouteIn,
    StateMove,
    SuggestionOut,
    SuggestRun,
    SweepOut,
)
from flywheel.problem.suggest import Rules
from flywheel.problem.verify_service import sweep
from flywheel.schemas import Page

router = APIRouter(tags=["problems"])

Reader = Annotated[Actor, Depends(require(Permission.PROBLEM_READ))]
Manager = Annotated[Actor, Depends(require(Permission.PROBLEM_MANAGE))]
AppDb = Annotated[Database, Depends(get_database)]
StateFilter = Literal[
    "open", "new", "investigating", "known_error", "fix_in_progress", "resolved", "closed"
]


@router.get("/problems", response_model=Page[ProblemOut])
def list_problems(
    session: DbSession,
    _: Reader,
    state: StateFilter | None = None,
    category: RootCauseCategory | None = None,
    service_key: Annotated[str | None, Query(alias="service")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[ProblemOut]:
    """Problems, newest first; filter by state ('open' = not closed), category, service."""
    found = service.list_problems(
        session,
        state=state,
        category=category.value if category else None,
        service=service_key,
        cursor=cursor_to_id(cursor) or None,
        limit=limit,
    )
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page(items=[ProblemOut.model_validate(p) for p in found], next_cursor=next_cursor)


@router.post("/problems", response_model=ProblemOut, status_code=status.HTTP_201_CREATED)
def create_problem(data: ProblemCreate, session: DbSession, actor: Manager) -> ProblemOut:
    """Open a problem by hand from incidents (42 or INC0000042)."""
    ids = [parse(i, "incident") for i in data.incidents]
    problem = service.create_problem(session, actor=actor, data=data, incident_ids=ids)
    session.commit()
    return ProblemOut.model_validate(problem)


@router.get("/problems/measures", response_model=MeasuresOut)
def problem_measures(session: DbSession, _: Reader) -> MeasuresOut:
    """Recurrence rate, time to root cause and to fix, by category; open known errors."""
    rows = [
        measuring.ProblemTimes(
            category=p.category,
            created_at=p.created_at,
            root_cause_at=p.root_cause_at,
            resolved_at=p.resolved_at,
            closed_as_fixed_at=p.closed_at if p.resolution == "fixed" else None,
            reopen_count=p.reopen_count,
        )
        for p in service.all_problems(session)
    ]
    overall, per = measuring.by_category(rows)
    open_known: dict[str, int] = {}
    for known in known_error_service.list_known_errors(session, active=True):
        key = known.service or "(any)"
        open_known[key] = open_known.get(key, 0) + 1
    return MeasuresOut(
        overall=CategoryMeasure.model_validate(overall),
        by_category=[CategoryMeasure.model_validate(m) for m in per],
        open_known_errors_by_service=open_known,
    )


@router.get("/problems/backlog.csv", response_class=PlainTextResponse)
def backlog_export(session: DbSession, _: Reader) -> PlainTextResponse:
    """Backlog items of software fixes as CSV (for trackers without a webhook)."""
    rows = []
    for problem in service.all_problems(session):
        for fix in fix_service.fixes(session, problem_id=problem.id):
            if fix.route == "backlog":
                rows.append(
                    {
                        "problem": problem.number,
                        "title": fix.title,
                        "service": problem.service,
                        "category": problem.category,
                        "root_cause": problem.root_cause,
                        "tracker": fix.tracker,
                        "state": fix.state,
                        "due": fix.due_date,
                    }
                )
    return PlainTextResponse(backlog_csv(rows), media_type="text/csv")


@router.get("/problems/suggestions", response_model=list[SuggestionOut])
def list_suggestions(
    session: DbSession, _: Reader, state: Literal["open", "accepted", "dismissed"] = "open"
) -> list[SuggestionOut]:
    """Stored suggestions with their evidence."""
    rows = suggestion_service.list_suggestions(session, state=state)
    return [SuggestionOut.model_validate(r) for r in rows]


@router.post(
    "/problems/suggestions",
    response_model=list[SuggestionOut],
    status_code=status.HTTP_201_CREATED,
)
def run_suggestions(data: SuggestRun, session: DbSession, actor: Manager) -> list[SuggestionOut]:
    """Look for recurring incidents now; the new suggestions."""
    rules = Rules(
        period_s=data.period_days * 86400,
        min_incidents=data.min_incidents,
        by_ci=data.by_ci,
        by_signature=data.by_signature,
    )
    made = suggestion_service.run(session, actor=actor, rules=rules, since=as_utc(data.since))
    session.commit()
    return [SuggestionOut.model_validate(r) for r in made]


@router.post(
    "/problems/suggestions/{suggestion_id}/accept",
    response_model=ProblemOut,
    status_code=status.HTTP_201_CREATED,
)
def accept_suggestion(
    suggestion_id: int, data: Decision, session: DbSession, actor: Manager
) -> ProblemOut:
    """Accept: the suggestion becomes a problem with its incidents."""
    problem = suggestion_service.accept(
        session, actor=actor, suggestion_id=suggestion_id, title=data.title
    )
    session.commit()
    return ProblemOut.model_validate(problem)


@router.post("/problems/suggestions/{suggestion_id}/dismiss", response_model=SuggestionOut)
def dismiss_suggestion(
    suggestion_id: int, data: Decision, session: DbSession, actor: Manager
) -> SuggestionOut:
    """Dismiss: not a problem (it is not suggested again)."""
    row = suggestion_service.dismiss(
        session, actor=actor, suggestion_id=suggestion_id, reason=data.reason
    )
    session.commit()
    return SuggestionOut.model_validate(row)


@router.post("/problems/verify", response_model=SweepOut)
def verify(request: Request, db: AppDb, actor: Manager) -> SweepOut:
    """Send due backlog webhooks, link fixing changes, resolve, close quiet problems now."""
    sent = outbox.drain(db)
    days = request.app.state.settings.problem_quiet_period_days
    with db.session(write=True) as session:
        done = sweep(session, actor=actor, now=utcnow(), quiet_period=timedelta(days=days))
        session.commit()
    return SweepOut(**done, deliveries=sent)


@router.get("/problems/{problem_id}", response_model=ProblemDetail)
def read_problem(problem_id: int, session: DbSession, _: Reader) -> ProblemDetail:
    """A problem with its incidents, fixes, changes, known errors and timeline."""
    return detail(session, problem_id)


def detail(session: DbSession, problem_id: int) -> ProblemDetail:
    """The full view of one problem."""
    problem = service.get_problem(session, problem_id=problem_id)
    links = {link.incident_id: link for link in service.links(session, problem_id=problem.id)}
    incidents = incident_service.incidents_by_ids(session, ids=list(links))
    timeline = [
        EventOut(at=e.at, kind=e.kind, actor=e.actor, summary=e.summary)
        for e in service.events(session, problem_id=problem.id)
    ] + [
        EventOut(at=e.at, kind=e.kind, actor=e.actor, summary=e.summary, incident=number)
        for number, e in service.incident_timeline(session, problem_id=problem.id)
    ]
    known = [
        k
        for k in known_error_service.list_known_errors(session, active=None)
        if k.problem_id == problem.id
    ]
    return ProblemDetail(
        **ProblemOut.model_validate(problem).model_dump(),
        incidents=[
            LinkedIncidentOut(
                incident_id=i.id,
                number=i.number,
                title=i.title,
                state=i.state,
                opened_at=i.opened_at,
                reason=links[i.id].reason,
            )
            for i in incidents
        ],
        fixes=[FixOut.model_validate(f) for f in fix_service.fixes(session, problem_id=problem.id)],
        changes=[
            ChangeLinkOut.model_validate(c)
            for c in fix_service.changes(session, problem_id=problem.id)
        ],
        known_errors=[KnownErrorOut.model_validate(k) for k in known],
        suspect_changes=service.suspect_changes(session, problem_id=problem.id),
        timeline=sorted(timeline, key=lambda e: e.at),
        time_to_root_cause_s=service.time_to_root_cause_s(problem),
    )


@router.post("/problems/{problem_id}/incidents", response_model=ProblemOut)
def link_incidents(
    problem_id: int, data: IncidentLinkIn, session: DbSession, actor: Manager
) -> ProblemOut:
    """Link incidents; one already in a problem is 409; linking to a fixed problem reopens it."""
    ids = [parse(i, "incident") for i in data.incidents]
    problem = service.link_incidents(session, actor=actor, problem_id=problem_id, incident_ids=ids)
    session.commit()
    return ProblemOut.model_validate(problem)


@router.post("/problems/{problem_id}/state", response_model=ProblemOut)
def move(problem_id: int, data: StateMove, session: DbSession, actor: Manager) -> ProblemOut:
    """Move to investigating or known_error (send the version you read)."""
    problem = service.move(
        session,
        actor=actor,
        problem_id=problem_id,
        version=data.version,
        state=ProblemState(data.state),
        note=data.note,
    )
    session.commit()
    return ProblemOut.model_validate(problem)


@router.put("/problems/{problem_id}/rca", response_model=ProblemOut)
def record_rca(problem_id: int, data: RcaIn, session: DbSession, actor: Manager) -> ProblemOut:
    """Record the root-cause analysis: five whys, factors, root cause and its category."""
    problem = service.record_rca(session, actor=actor, problem_id=problem_id, data=data)
    session.commit()
    return ProblemOut.model_validate(problem)


@router.post(
    "/problems/{problem_id}/route", response_model=FixOut, status_code=status.HTTP_201_CREATED
)
def route_fix(problem_id: int, data: RouteIn, session: DbSession, actor: Manager) -> FixOut:
    """Route the fix by root-cause category: backlog item, change request, or task."""
    fix = fix_service.route(session, actor=actor, problem_id=problem_id, data=data)
    session.commit()
    return FixOut.model_validate(fix)


@router.post("/problems/{problem_id}/fixes/{fix_id}/finish", response_model=FixOut)
def finish_fix(
    problem_id: int,
    fix_id: int,
    data: FixDone,
    session: DbSession,
    actor: Manager,
    outcome: Literal["done", "cancelled"] = "done",
) -> FixOut:
    """A task fix is done, or any fix is cancelled."""
    fix = fix_service.finish_fix(
        session, actor=actor, problem_id=problem_id, fix_id=fix_id, outcome=outcome, note=data.note
    )
    session.commit()
    return FixOut.model_validate(fix)


@router.post("/problems/{problem_id}/close", response_model=ProblemOut)
def close(problem_id: int, data: CloseIn, session: DbSession, actor: Manager) -> ProblemOut:
    """Close: fixed (after verification), duplicate, risk accepted or cancelled."""
    problem = service.close(
        session,
        actor=actor,
        problem_id=problem_id,
        version=data.version,
        resolution=data.resolution,
        note=data.note,
    )
    session.commit()
    return ProblemOut.model_validate(problem)
