"""Change pages: the list, the calendar with freeze windows, a change and its verdict forms."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import Response

from flywheel.audit import service as audit_service
from flywheel.auth.roles import Permission
from flywheel.change import governance
from flywheel.change import service as change_service
from flywheel.change.lifecycle import State
from flywheel.change.schemas import Rejection, Verdict
from flywheel.db import utcnow
from flywheel.errors import FlywheelError, InvalidInput
from flywheel.http.deps import DbSession
from flywheel.web import calendar_grid, charts, words
from flywheel.web.forms import form_text, validation_message
from flywheel.web.rendering import redirect, render
from flywheel.web.sections import Panel, Section, Tile, console_router
from flywheel.web.security import CheckedForm, Viewer, require_page

router = console_router()
Reader = Annotated[Viewer, require_page(Permission.CHANGE_READ)]
Approver = Annotated[Viewer, require_page(Permission.CHANGE_APPROVE)]
PAGE_SIZE = 50
MINE_COUNTED = 100
NOTICES = {"approved": "Your approval is recorded.", "rejected": "The change is rejected."}


def change_id_of(number: str) -> int | None:
    """The id in a change number such as CHG0000042."""
    digits = number.removeprefix("CHG")
    return int(digits) if digits.isdigit() else None


def _state(text: str) -> State | None:
    if not text:
        return None
    try:
        return State(text)
    except ValueError:
        names = ", ".join(s.value for s in State)
        raise InvalidInput(f"unknown state '{text}': choose one of {names}") from None


@router.get("/changes")
def change_list(
    request: Request,
    session: DbSession,
    viewer: Reader,
    service: Annotated[str, Query(max_length=200)] = "",
    state: Annotated[str, Query(max_length=32)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Changes, newest first, filtered by service and state."""
    filters = {"service": service.strip(), "state": state.strip()}
    try:
        found = change_service.list_changes(
            session,
            service=filters["service"] or None,
            state=_state(filters["state"]),
            newest_first=True,
            before_id=before,
            limit=PAGE_SIZE,
        )
    except InvalidInput as exc:
        return render(
            request,
            "changes/list.html",
            status=422,
            title="Changes",
            error=exc.message,
            changes=[],
            filters=filters,
            states=list(State),
            more=None,
        )
    more = found[-1].id if len(found) == PAGE_SIZE else None
    return render(
        request,
        "changes/list.html",
        title="Changes",
        changes=found,
        filters=filters,
        states=list(State),
        more=more,
    )


@router.get("/changes/calendar")
def change_calendar(
    request: Request,
    session: DbSession,
    viewer: Reader,
    month: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """A month of planned changes and freeze (blackout) and maintenance windows."""
    today = utcnow().date()
    try:
        first = calendar_grid.parse_month(month, today)
    except InvalidInput as exc:
        first, error = today.replace(day=1), exc.message
    else:
        error = ""
    start, end = calendar_grid.grid_span(first)
    entries = governance.calendar(session, start=start, end=end)
    return render(
        request,
        "changes/calendar.html",
        status=422 if error else 200,
        error=error,
        title=f"Change calendar {first:%B %Y}",
        first=first,
        weeks=calendar_grid.month_grid(first, list(entries)),
        previous=calendar_grid.shift_month(first, -1),
        following=calendar_grid.shift_month(first, 1),
        today=today,
        change_id_of=change_id_of,
    )


def _detail(
    request: Request,
    session: Session,
    viewer: Viewer,
    change_id: int,
    *,
    status: int = 200,
    error: str = "",
    notice: str = "",
) -> Response:
    change = change_service.get_change(session, change_id=change_id)
    factors = words.risk_factors(change.risk_explanation)
    decision: dict[str, Any] = change.decision or {}
    trail = []
    if viewer.can(Permission.AUDIT_READ):
        flt = audit_service.AuditFilter(object_type="change", object_id=change.number)
        trail = audit_service.recent_events(session, flt=flt, limit=200)
    chart = charts.risk_contributions([(f.name or f.sentence, f.weight) for f in factors])
    return render(
        request,
        "changes/detail.html",
        status=status,
        error=error,
        notice=notice,
        title=f"{change.number} {change.title}",
        change=change,
        factors=factors,
        risk_summary=words.risk_summary(change.risk_score, change.risk_level, factors),
        risk_chart=charts.as_json(chart) if factors else None,
        decision=decision,
        decision_sentence=words.decision_sentence(decision),
        conflicts=[(c, words.conflict_sentence(c)) for c in decision.get("conflicts") or []],
        timeline=change_service.timeline(session, change_id=change_id),
        trail=trail,
        verdicts=change_service.verdicts_open_to(session, actor=viewer.actor, change=change),
        change_id_of=change_id_of,
    )


@router.get("/changes/{change_id}")
def change_page(
    request: Request, change_id: int, session: DbSession, viewer: Reader, notice: str = ""
) -> Response:
    """A change: risk and why, the rule that decided, conflicts, approvals, timeline, audit."""
    return _detail(request, session, viewer, change_id, notice=NOTICES.get(notice, ""))


def _verdict_failed(
    request: Request, session: Session, viewer: Viewer, change_id: int, status: int, message: str
) -> Response:
    session.rollback()
    return _detail(request, session, viewer, change_id, status=status, error=message)


@router.post("/changes/{change_id}/approve")
def approve_change(
    request: Request, change_id: int, session: DbSession, viewer: Approver, form: CheckedForm
) -> Response:
    """Approve (the service checks the approver and separation of duties, as for the API)."""
    try:
        verdict = Verdict(comment=form_text(form, "comment"))
        change_service.approve(
            session, actor=viewer.actor, change_id=change_id, comment=verdict.comment
        )
    except ValidationError as exc:
        return _verdict_failed(request, session, viewer, change_id, 422, validation_message(exc))
    except FlywheelError as exc:
        if exc.status_code == 404:
            raise
        return _verdict_failed(request, session, viewer, change_id, exc.status_code, exc.message)
    session.commit()
    return redirect(request, f"/changes/{change_id}?notice=approved")


@router.post("/changes/{change_id}/reject")
def reject_change(
    request: Request, change_id: int, session: DbSession, viewer: Approver, form: CheckedForm
) -> Response:
    """Reject, with a reason."""
    try:
        rejection = Rejection(reason=form_text(form, "reason"))
        change_service.reject(
            session, actor=viewer.actor, change_id=change_id, reason=rejection.reason
        )
    except ValidationError as exc:
        return _verdict_failed(request, session, viewer, change_id, 422, validation_message(exc))
    except FlywheelError as exc:
        if exc.status_code == 404:
            raise
        return _verdict_failed(request, session, viewer, change_id, exc.status_code, exc.message)
    session.commit()
    return redirect(request, f"/changes/{change_id}?notice=rejected")


def _tiles(session: Session, viewer: Viewer) -> list[Tile]:
    by_state = change_service.count_by_state(session, since=utcnow() - timedelta(days=30))
    mine = change_service.count_awaiting_decision(session, actor=viewer.actor, cap=MINE_COUNTED)
    shown = f"{mine}+" if mine == MINE_COUNTED else mine
    return [
        Tile("Awaiting my decision", shown, "/#awaiting", "warn" if mine else "good"),
        Tile("Awaiting approval", by_state.get("authorize", 0), "/changes?state=authorize"),
        Tile("Scheduled", by_state.get("scheduled", 0), "/changes?state=scheduled"),
        Tile("Rejected (30 d)", by_state.get("rejected", 0), "/changes?state=rejected"),
    ]


def _awaiting(session: Session, viewer: Viewer) -> Mapping[str, Any]:
    return {"changes": change_service.awaiting_decision(session, actor=viewer.actor, limit=10)}


SECTION = Section(
    label="Changes",
    path="/changes",
    router=router,
    permission=Permission.CHANGE_READ,
    tiles=_tiles,
    panels=(
        Panel(
            "Changes awaiting my decision",
            "changes/_awaiting_panel.html",
            _awaiting,
            permission=Permission.CHANGE_APPROVE,
            order=20,
        ),
    ),
)
