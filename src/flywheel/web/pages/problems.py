"""Problem pages: the board by state, suggestions to decide, known errors, a problem's record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import Response

from flywheel.auth.roles import Permission
from flywheel.errors import FlywheelError, InvalidInput
from flywheel.http.deps import DbSession
from flywheel.problem import known_error_service, suggestion_service
from flywheel.problem import service as problem_service
from flywheel.problem.lifecycle import ProblemState, RootCauseCategory
from flywheel.problem.models import Problem
from flywheel.problem.schemas import Decision
from flywheel.web.forms import form_text, validation_message
from flywheel.web.pages import problem_page
from flywheel.web.rendering import redirect, render
from flywheel.web.sections import Panel, Section, Tile, console_router
from flywheel.web.security import CheckedForm, Viewer, require_page

router = console_router()
Reader = Annotated[Viewer, require_page(Permission.PROBLEM_READ)]
Manager = Annotated[Viewer, require_page(Permission.PROBLEM_MANAGE)]
COLUMN_SIZE = 30  # problems shown per state on the board (newest first)
NOTICES = {
    "dismissed": "The suggestion is dismissed; the same evidence is not suggested again.",
}
UNCATEGORISED = "not yet known"


def category_filter(text: str) -> RootCauseCategory | None:
    """The root-cause category named in a filter ('' = any)."""
    if not text:
        return None
    try:
        return RootCauseCategory(text)
    except ValueError:
        names = ", ".join(c.value for c in RootCauseCategory)
        raise InvalidInput(f"unknown category '{text}': choose one of {names}") from None


def board_columns(
    session: Session, category: RootCauseCategory | None
) -> list[tuple[ProblemState, list[Problem]]]:
    """The problems in each state (newest first), for the board."""
    chosen = category.value if category else None
    return [
        (
            state,
            problem_service.list_problems(
                session, state=state.value, category=chosen, limit=COLUMN_SIZE
            ),
        )
        for state in ProblemState
    ]


def board_context(
    session: Session, viewer: Viewer, chosen: RootCauseCategory | None
) -> dict[str, Any]:
    """Everything the board shows."""
    by_category = problem_service.count_by(session, "category")
    return {
        "title": "Problems",
        "columns": board_columns(session, chosen),
        "counts": problem_service.count_by(session, "state", open_only=False),
        "by_category": sorted(
            ((name or UNCATEGORISED, n) for name, n in by_category.items()), key=lambda p: -p[1]
        ),
        "categories": list(RootCauseCategory),
        "chosen": chosen.value if chosen else "",
        "suggestions": suggestion_service.list_suggestions(session, state="open"),
        "may_manage": viewer.can(Permission.PROBLEM_MANAGE),
    }


@router.get("/problems")
def problem_board(
    request: Request,
    session: DbSession,
    viewer: Reader,
    category: Annotated[str, Query(max_length=40)] = "",
    notice: str = "",
) -> Response:
    """The board: problems by state, counts by root-cause category, suggestions to decide."""
    try:
        chosen = category_filter(category.strip())
    except InvalidInput as exc:
        chosen, error = None, exc.message
    else:
        error = ""
    return render(
        request,
        "problems/board.html",
        status=422 if error else 200,
        error=error,
        notice=NOTICES.get(notice, ""),
        **board_context(session, viewer, chosen),
    )


@router.get("/problems/known-errors")
def known_errors(
    request: Request,
    session: DbSession,
    viewer: Reader,
    service: Annotated[str, Query(max_length=200)] = "",
    inactive: bool = False,
) -> Response:
    """Known errors with their workarounds, grouped by service."""
    found = known_error_service.list_known_errors(
        session, active=None if inactive else True, service=service.strip() or None
    )
    grouped: dict[str, list[Any]] = {}
    for known in found:
        grouped.setdefault(known.service or "any service", []).append(known)
    return render(
        request,
        "problems/known_errors.html",
        title="Known errors",
        grouped=sorted(grouped.items()),
        filters={"service": service.strip(), "inactive": inactive},
    )


def _board_failed(request: Request, session: Session, viewer: Viewer, exc: Exception) -> Response:
    session.rollback()
    if isinstance(exc, ValidationError):
        status, message = 422, validation_message(exc)
    else:
        assert isinstance(exc, FlywheelError)
        status, message = exc.status_code, exc.message
    context = board_context(session, viewer, None)
    return render(request, "problems/board.html", status=status, error=message, **context)


@router.post("/problems/suggestions/{suggestion_id}/accept")
def accept_suggestion(
    request: Request, suggestion_id: int, session: DbSession, viewer: Manager, form: CheckedForm
) -> Response:
    """Accept: the suggestion becomes a problem with its incidents; go to it."""
    try:
        decision = Decision(title=form_text(form, "title") or None)
        problem = suggestion_service.accept(
            session, actor=viewer.actor, suggestion_id=suggestion_id, title=decision.title
        )
    except (ValidationError, FlywheelError) as exc:
        if isinstance(exc, FlywheelError) and exc.status_code == 404:
            raise
        return _board_failed(request, session, viewer, exc)
    session.commit()
    return redirect(request, f"/problems/{problem.id}")


@router.post("/problems/suggestions/{suggestion_id}/dismiss")
def dismiss_suggestion(
    request: Request, suggestion_id: int, session: DbSession, viewer: Manager, form: CheckedForm
) -> Response:
    """Dismiss: not a problem, with the reason kept."""
    try:
        decision = Decision(reason=form_text(form, "reason"))
        suggestion_service.dismiss(
            session, actor=viewer.actor, suggestion_id=suggestion_id, reason=decision.reason
        )
    except (ValidationError, FlywheelError) as exc:
        if isinstance(exc, FlywheelError) and exc.status_code == 404:
            raise
        return _board_failed(request, session, viewer, exc)
    session.commit()
    return redirect(request, "/problems?notice=dismissed#suggestions")


def _tiles(session: Session, viewer: Viewer) -> list[Tile]:
    open_count = sum(problem_service.count_by(session, "state").values())
    known = len(known_error_service.list_known_errors(session, active=True))
    waiting = len(suggestion_service.list_suggestions(session, state="open"))
    return [
        Tile("Open problems", open_count, "/problems", "warn" if open_count else "good"),
        Tile("Known errors", known, "/problems/known-errors"),
        Tile("Problems suggested", waiting, "/problems#suggestions", "warn" if waiting else "good"),
    ]


def _open_problems(session: Session, viewer: Viewer) -> Mapping[str, Any]:
    return {"problems": problem_service.list_problems(session, state="open", limit=8)}


router.include_router(problem_page.router)  # after /problems/known-errors and the suggestions

SECTION = Section(
    label="Problems",
    path="/problems",
    router=router,
    permission=Permission.PROBLEM_READ,
    tiles=_tiles,
    panels=(Panel("Open problems", "problems/_open_panel.html", _open_problems, order=60),),
)
