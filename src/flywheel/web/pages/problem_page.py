"""A problem's page: incidents, timeline, RCA record, known errors, fixes, and its action forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from flywheel.auth.roles import Permission
from flywheel.change import service as change_service
from flywheel.errors import FlywheelError, InvalidInput
from flywheel.http.deps import DbSession
from flywheel.incident import service as incident_service
from flywheel.problem import fix_service, known_error_service, outbox
from flywheel.problem import service as problem_service
from flywheel.problem.lifecycle import ProblemState, Resolution, RootCauseCategory
from flywheel.problem.models import Delivery, ProblemFix
from flywheel.problem.schemas import CloseIn, RcaIn, RouteIn, StateMove
from flywheel.web.forms import form_text, validation_message
from flywheel.web.pages.changes import change_id_of
from flywheel.web.rendering import redirect, render
from flywheel.web.sections import console_router
from flywheel.web.security import CheckedForm, Viewer, require_page

router = console_router()
Reader = Annotated[Viewer, require_page(Permission.PROBLEM_READ)]
Manager = Annotated[Viewer, require_page(Permission.PROBLEM_MANAGE)]
NOTICES = {
    "investigating": "Investigation started.",
    "rca": "The root-cause analysis is recorded.",
    "routed": "The fix is routed.",
    "closed": "The problem is closed.",
}
Action = Callable[[Session, Viewer, int, FormData], Any]


def fix_progress(session: Session, problem_id: int, fixes: list[ProblemFix]) -> dict[int, str]:
    """A few words on how each routed fix is going, by fix id."""
    sent = {d.fix_id: d for d in outbox.list_deliveries(session, problem_id=problem_id)}
    words: dict[int, str] = {}
    for fix in fixes:
        if fix.route == "backlog" and fix.id in sent:
            words[fix.id] = delivery_words(sent[fix.id])
        elif fix.route == "change" and fix.change_number:
            words[fix.id] = f"change request {fix.change_number} is {_change_state(session, fix)}"
        elif fix.owner:
            due = f", due {fix.due_date:%Y-%m-%d}" if fix.due_date else ""
            words[fix.id] = f"task for {fix.owner}{due}"
        else:
            words[fix.id] = fix.route
    return words


def delivery_words(d: Delivery) -> str:
    """How sending a backlog item to its tracker went."""
    if d.state == "delivered":
        return f"backlog item delivered to {d.tracker}"
    if not d.attempts:
        return f"backlog item {d.state} to {d.tracker} (not sent yet)"
    error = f"; last error: {d.last_error}" if d.last_error else ""
    return f"backlog item {d.state} to {d.tracker} after {d.attempts} attempt(s){error}"


def _change_state(session: Session, fix: ProblemFix) -> str:
    change_id = change_id_of(fix.change_number or "")
    if change_id is None:
        return "unknown"
    try:
        return change_service.get_change(session, change_id=change_id).state
    except FlywheelError:
        return "gone"


def detail_context(session: Session, viewer: Viewer, problem_id: int) -> dict[str, Any]:
    """Everything the problem page shows."""
    problem = problem_service.get_problem(session, problem_id=problem_id)
    links = {
        link.incident_id: link for link in problem_service.links(session, problem_id=problem_id)
    }
    fixes = fix_service.fixes(session, problem_id=problem_id)
    timeline = [(None, e) for e in problem_service.events(session, problem_id=problem_id)]
    timeline += problem_service.incident_timeline(session, problem_id=problem_id, per_incident=50)
    state = ProblemState(problem.state)
    may = viewer.can(Permission.PROBLEM_MANAGE)
    return {
        "title": f"{problem.number} {problem.title}",
        "problem": problem,
        "incidents": incident_service.incidents_by_ids(session, ids=list(links)),
        "links": links,
        "timeline": sorted(timeline, key=lambda pair: pair[1].at),
        "known": [
            k
            for k in known_error_service.list_known_errors(session, active=None)
            if k.problem_id == problem_id
        ],
        "fixes": fixes,
        "progress": fix_progress(session, problem_id, fixes),
        "changes": fix_service.changes(session, problem_id=problem_id),
        "time_to_root_cause": duration_words(problem_service.time_to_root_cause_s(problem)),
        "categories": list(RootCauseCategory),
        "resolutions": resolutions_for(state),
        "trackers": fix_service.list_trackers(session) if may else [],
        "actions": allowed_actions(state, problem.category, may),
        "change_id_of": change_id_of,
    }


def duration_words(seconds: float | None) -> str | None:
    """A duration as people say it: '45 min', '3 h 20 min', '2 d 4 h'."""
    if seconds is None:
        return None
    minutes = max(0, round(seconds / 60))
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def resolutions_for(state: ProblemState) -> list[Resolution]:
    """How a problem in this state may close: fixed once resolved, otherwise the others."""
    if state is ProblemState.RESOLVED:
        return [Resolution.FIXED]
    return [r for r in Resolution if r is not Resolution.FIXED]


def allowed_actions(state: ProblemState, category: str | None, may_manage: bool) -> set[str]:
    """Which action forms the page offers for this state, to someone who may manage problems."""
    if not may_manage:
        return set()
    s = ProblemState
    found = set()
    if state in (s.NEW, s.KNOWN_ERROR, s.RESOLVED, s.CLOSED):
        found.add("investigate")
    if state is not s.CLOSED:
        found.update({"rca", "close"})
    if category and state in (s.INVESTIGATING, s.KNOWN_ERROR, s.FIX_IN_PROGRESS):
        found.add("route")
    return found


def _page(
    request: Request,
    session: Session,
    viewer: Viewer,
    problem_id: int,
    *,
    status: int = 200,
    error: str = "",
    notice: str = "",
) -> Response:
    context = detail_context(session, viewer, problem_id)
    return render(
        request, "problems/detail.html", status=status, error=error, notice=notice, **context
    )


@router.get("/problems/{problem_id}")
def problem_page(
    request: Request, problem_id: int, session: DbSession, viewer: Reader, notice: str = ""
) -> Response:
    """A problem: incidents, timeline, RCA, known errors, fixes and what the viewer may do."""
    return _page(request, session, viewer, problem_id, notice=NOTICES.get(notice, ""))


def lines_of(form: FormData, name: str) -> list[str]:
    """A textarea's non-empty lines."""
    return [line.strip() for line in form_text(form, name).splitlines() if line.strip()]


def version_of(form: FormData) -> int:
    """The version the form was rendered at."""
    text = form_text(form, "version")
    if not text.isdigit():
        raise InvalidInput("version: reload the page (the form carries no version)")
    return int(text)


def _act(
    request: Request,
    session: Session,
    viewer: Viewer,
    problem_id: int,
    form: FormData,
    action: Action,
    notice: str,
) -> Response:
    """Run one action; its failure is shown on the problem's page, nothing half-written."""
    try:
        action(session, viewer, problem_id, form)
    except ValidationError as exc:
        session.rollback()
        return _page(
            request, session, viewer, problem_id, status=422, error=validation_message(exc)
        )
    except FlywheelError as exc:
        if exc.status_code == 404:
            raise
        session.rollback()
        return _page(
            request, session, viewer, problem_id, status=exc.status_code, error=exc.message
        )
    session.commit()
    return redirect(request, f"/problems/{problem_id}?notice={notice}")


def _investigate(session: Session, viewer: Viewer, problem_id: int, form: FormData) -> None:
    move = StateMove(version=version_of(form), state="investigating", note=form_text(form, "note"))
    problem_service.move(
        session,
        actor=viewer.actor,
        problem_id=problem_id,
        version=move.version,
        state=ProblemState.INVESTIGATING,
        note=move.note,
    )


def _rca(session: Session, viewer: Viewer, problem_id: int, form: FormData) -> None:
    data = RcaIn.model_validate(
        {
            "version": version_of(form),
            "five_whys": lines_of(form, "five_whys"),
            "contributing_factors": lines_of(form, "contributing_factors"),
            "root_cause": form_text(form, "root_cause") or None,
            "category": form_text(form, "category") or None,
        }
    )
    problem_service.record_rca(session, actor=viewer.actor, problem_id=problem_id, data=data)


def _route(session: Session, viewer: Viewer, problem_id: int, form: FormData) -> None:
    fields = ("title", "tracker", "owner", "due_date", "task_kind")
    given = {name: form_text(form, name) for name in fields if form_text(form, name)}
    data = RouteIn.model_validate({"version": version_of(form), **given})
    fix_service.route(session, actor=viewer.actor, problem_id=problem_id, data=data)


def _close(session: Session, viewer: Viewer, problem_id: int, form: FormData) -> None:
    data = CloseIn.model_validate(
        {
            "version": version_of(form),
            "resolution": form_text(form, "resolution"),
            "note": form_text(form, "note"),
        }
    )
    problem_service.close(
        session,
        actor=viewer.actor,
        problem_id=problem_id,
        version=data.version,
        resolution=data.resolution,
        note=data.note,
    )


ACTIONS: dict[str, tuple[Action, str]] = {
    "investigate": (_investigate, "investigating"),
    "rca": (_rca, "rca"),
    "route": (_route, "routed"),
    "close": (_close, "closed"),
}


@router.post("/problems/{problem_id}/{action}")
def problem_action(
    request: Request,
    problem_id: int,
    action: str,
    session: DbSession,
    viewer: Manager,
    form: CheckedForm,
) -> Response:
    """Start investigating, record the RCA, route the fix, or close (as for the API)."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action '{action}': choose one of {', '.join(ACTIONS)}")
    do, notice = ACTIONS[action]
    return _act(request, session, viewer, problem_id, form, do, notice)
