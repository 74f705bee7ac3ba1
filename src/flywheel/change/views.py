"""API routes of the change domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.change import governance, service
from flywheel.change.decisions import Submitted, desk_for
from flywheel.change.lifecycle import State
from flywheel.change.schemas import (
    CalendarEntry,
    ChangeCreate,
    ChangeOut,
    Completion,
    Override,
    PolicyApply,
    PolicyOut,
    Rejection,
    Reschedule,
    TransitionOut,
    Verdict,
    WindowCreate,
    WindowOut,
)
from flywheel.context import current_request_id
from flywheel.db import as_utc
from flywheel.http.deps import Bearer, DbSession, bearer_secret, cursor_to_id, require
from flywheel.schemas import Page

router = APIRouter(tags=["changes"])
JSON = "application/json"

Reader = Annotated[Actor, Depends(require(Permission.CHANGE_READ))]
Opener = Annotated[Actor, Depends(require(Permission.CHANGE_CREATE))]
Approver = Annotated[Actor, Depends(require(Permission.CHANGE_APPROVE))]
Implementer = Annotated[Actor, Depends(require(Permission.CHANGE_IMPLEMENT))]
Governor = Annotated[Actor, Depends(require(Permission.CHANGE_POLICY_MANAGE))]


@router.post("/changes", response_model=ChangeOut, status_code=status.HTTP_201_CREATED)
async def open_change(data: ChangeCreate, request: Request, credentials: Bearer) -> Response:
    """Open a change; the answer carries the decision when the policy can make it at once.

    Decided in a batch with the other requests waiting in this process (change.decisions).
    """
    state = request.scope.setdefault("state", {})
    item = Submitted(bearer_secret(credentials), data, state, current_request_id())
    answer = await desk_for(request.app.state.db).submit(item)
    if answer.error is not None:
        raise answer.error
    return Response(answer.body, status_code=answer.status, media_type=JSON)


@router.get("/changes", response_model=Page[ChangeOut])
def list_changes(
    session: DbSession,
    _: Reader,
    service_key: Annotated[str | None, Query(alias="service")] = None,
    state: State | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[ChangeOut]:
    """Changes, oldest first; filter by service or state."""
    changes = service.list_changes(
        session, service=service_key, state=state, after_id=cursor_to_id(cursor), limit=limit
    )
    next_cursor = str(changes[-1].id) if len(changes) == limit else None
    return Page(items=[ChangeOut.model_validate(c) for c in changes], next_cursor=next_cursor)


@router.get("/changes/calendar", response_model=list[CalendarEntry])
def change_calendar(
    session: DbSession,
    _: Reader,
    start: Annotated[datetime, Query(alias="from")],
    end: Annotated[datetime, Query(alias="to")],
) -> list[CalendarEntry]:
    """Changes and window occurrences between from and to."""
    begin, finish = as_utc(start), as_utc(end)
    assert begin is not None and finish is not None
    return governance.calendar(session, start=begin, end=finish)


@router.get("/changes/{change_id}", response_model=ChangeOut)
def read_change(change_id: int, session: DbSession, _: Reader) -> ChangeOut:
    """One change with its risk, decision and approvals."""
    return ChangeOut.model_validate(service.get_change(session, change_id=change_id))


@router.get("/changes/{change_id}/timeline", response_model=list[TransitionOut])
def change_timeline(change_id: int, session: DbSession, _: Reader) -> list[TransitionOut]:
    """Every lifecycle step of the change."""
    steps = service.timeline(session, change_id=change_id)
    return [TransitionOut.model_validate(t) for t in steps]


@router.post("/changes/{change_id}/approve", response_model=ChangeOut)
def approve_change(change_id: int, data: Verdict, session: DbSession, actor: Approver) -> ChangeOut:
    """Approve a change awaiting approval (never your own)."""
    change = service.approve(session, actor=actor, change_id=change_id, comment=data.comment)
    session.commit()
    return ChangeOut.model_validate(change)


@router.post("/changes/{change_id}/reject", response_model=ChangeOut)
def reject_change(
    change_id: int, data: Rejection, session: DbSession, actor: Approver
) -> ChangeOut:
    """Reject a change awaiting approval."""
    change = service.reject(session, actor=actor, change_id=change_id, reason=data.reason)
    session.commit()
    return ChangeOut.model_validate(change)


@router.post("/changes/{change_id}/cancel", response_model=ChangeOut)
def cancel_change(change_id: int, data: Rejection, session: DbSession, actor: Opener) -> ChangeOut:
    """Withdraw a change that has not started."""
    change = service.cancel(session, actor=actor, change_id=change_id, reason=data.reason)
    session.commit()
    return ChangeOut.model_validate(change)


@router.post("/changes/{change_id}/start", response_model=ChangeOut)
def start_change(change_id: int, session: DbSession, actor: Implementer) -> ChangeOut:
    """Begin implementing (blackouts and conflicts are checked again)."""
    change = service.start(session, actor=actor, change_id=change_id)
    session.commit()
    return ChangeOut.model_validate(change)


@router.post("/changes/{change_id}/complete", response_model=ChangeOut)
def complete_change(
    change_id: int, data: Completion, session: DbSession, actor: Implementer
) -> ChangeOut:
    """Say how the implementation ended."""
    change = service.complete(
        session, actor=actor, change_id=change_id, close_code=data.close_code, notes=data.notes
    )
    session.commit()
    return ChangeOut.model_validate(change)


@router.post("/changes/{change_id}/close", response_model=ChangeOut)
def close_change(change_id: int, data: Verdict, session: DbSession, actor: Approver) -> ChangeOut:
    """Close a change after its post-implementation review."""
    change = service.close(session, actor=actor, change_id=change_id, notes=data.comment)
    session.commit()
    return ChangeOut.model_validate(change)


@router.post("/changes/{change_id}/reschedule", response_model=ChangeOut)
def reschedule_change(
    change_id: int, data: Reschedule, session: DbSession, actor: Opener
) -> ChangeOut:
    """Move a change that has not started to a new window (conflicts and windows re-checked)."""
    start, end = as_utc(data.planned_start), as_utc(data.planned_end)
    assert start is not None and end is not None
    change = service.reschedule(
        session,
        actor=actor,
        change_id=change_id,
        planned_start=start,
        planned_end=end,
        expected_version=data.row_version,
        break_glass_reason=data.break_glass_reason,
    )
    session.commit()
    return ChangeOut.model_validate(change)


@router.post("/changes/{change_id}/break-glass", response_model=ChangeOut)
def break_glass(
    change_id: int, data: Override, session: DbSession, actor: Implementer
) -> ChangeOut:
    """Proceed through a blackout window, if your role may; audited with your reason."""
    change = service.override_freeze(session, actor=actor, change_id=change_id, reason=data.reason)
    session.commit()
    return ChangeOut.model_validate(change)


@router.get("/change-policies/{scope}", response_model=PolicyOut)
def read_policy(scope: str, session: DbSession, _: Reader) -> PolicyOut:
    """The policy in force for a service ('*' for the default)."""
    text, source, version = governance.policy_for(session, scope=scope)
    history = governance.policy_history(session, scope=source) if version else []
    created = history[0] if history else None
    return PolicyOut(
        scope=source,
        version=version,
        text=text,
        created_at=created.created_at if created else None,
        created_by=created.created_by if created else "flywheel",
    )


@router.put("/change-policies/{scope}", response_model=PolicyOut)
def apply_policy(scope: str, data: PolicyApply, session: DbSession, actor: Governor) -> PolicyOut:
    """Store a new version of a service's policy (YAML); it applies to new changes."""
    row = governance.apply_policy(session, actor=actor, scope=scope, text=data.text)
    session.commit()
    return PolicyOut.model_validate(row)


@router.get("/change-windows", response_model=list[WindowOut])
def list_windows(session: DbSession, _: Reader) -> list[WindowOut]:
    """Active blackout and maintenance windows."""
    return [WindowOut.model_validate(w) for w in governance.list_windows(session)]


@router.post("/change-windows", response_model=WindowOut, status_code=status.HTTP_201_CREATED)
def create_window(data: WindowCreate, session: DbSession, actor: Governor) -> WindowOut:
    """Add a blackout (freeze) or maintenance window, one-off or recurring (RRULE)."""
    row = governance.create_window(session, actor=actor, data=data)
    session.commit()
    return WindowOut.model_validate(row)


@router.delete("/change-windows/{window_id}", response_model=WindowOut)
def deactivate_window(window_id: int, session: DbSession, actor: Governor) -> WindowOut:
    """End a window; it stays on record."""
    row = governance.deactivate_window(session, actor=actor, window_id=window_id)
    session.commit()
    return WindowOut.model_validate(row)
