"""Change requests: open, decide, approve, implement and close them, with an audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.change.approvals import (
    approve,
    awaiting_decision,
    count_awaiting_decision,
    override_freeze,
    reject,
    verdicts_open_to,
)
from flywheel.change.assessment import assess
from flywheel.change.conflict_reads import find_conflicts
from flywheel.change.lifecycle import (
    ChangeType,
    CloseCode,
    State,
    check_transition,
)
from flywheel.change.models import ChangeRequest, ChangeTransition
from flywheel.change.opening import SERVICE_TYPES as SERVICE_TYPES
from flywheel.change.opening import Opened, check_change, write_change
from flywheel.change.queries import approved_at as approved_at
from flywheel.change.queries import changes_mentioning as changes_mentioning
from flywheel.change.queries import close_codes_query as close_codes_query
from flywheel.change.queries import commit_times_query as commit_times_query
from flywheel.change.queries import first_commit_at as first_commit_at
from flywheel.change.queries import pipeline_changes as pipeline_changes
from flywheel.change.rescheduling import reschedule
from flywheel.change.schemas import ChangeCreate
from flywheel.change.steps import get_change, move
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput


def list_changes(
    session: Session,
    *,
    service: str | None = None,
    state: State | None = None,
    after_id: int = 0,
    limit: int = 100,
    newest_first: bool = False,
    before_id: int | None = None,
) -> list[ChangeRequest]:
    """Changes, oldest first (or newest first), optionally for one service or in one state."""
    query = select(ChangeRequest).where(ChangeRequest.id > after_id)
    if before_id is not None:
        query = query.where(ChangeRequest.id < before_id)
    if service:
        query = query.where(ChangeRequest.service == service)
    if state:
        query = query.where(ChangeRequest.state == state.value)
    order = ChangeRequest.id.desc() if newest_first else ChangeRequest.id
    return list(session.scalars(query.order_by(order).limit(limit)))


def count_by_state(session: Session, *, since: datetime | None = None) -> dict[str, int]:
    """How many changes are in each state (of those opened since a time, if given)."""
    query = select(ChangeRequest.state, func.count(ChangeRequest.id)).group_by(ChangeRequest.state)
    if since is not None:
        query = query.where(ChangeRequest.created_at >= since)
    return {state: int(n) for state, n in session.execute(query).all()}


def open_change(
    session: Session,
    *,
    actor: Actor,
    data: ChangeCreate,
) -> tuple[ChangeRequest, bool]:
    """Open a change and decide it at once where the policy allows; (change, created).

    The path of every caller but the API's pipelines (change.decisions batches those).
    """
    checked = check_change(session, data=data)
    if isinstance(checked, Opened):
        return checked.change, False
    opened = write_change(session, actor=actor, data=data, touched=checked)
    audit.record_many(session, actor=actor, events=opened.events)
    return opened.change, True


def cancel(session: Session, *, actor: Actor, change_id: int, reason: str) -> ChangeRequest:
    """Withdraw a change that has not started."""
    change = get_change(session, change_id=change_id, lock=True)
    change.close_code = CloseCode.CANCELLED.value
    move(session, change, State.CANCELLED, actor=actor, reason=reason)
    return change


def start(session: Session, *, actor: Actor, change_id: int) -> ChangeRequest:
    """Begin implementing a scheduled change, re-checking blackouts and conflicts first."""
    change = get_change(session, change_id=change_id, lock=True)
    check_transition(ChangeType(change.type), State(change.state), State.IMPLEMENT)
    found = assess(session, change)
    blockers = found.blockers(ChangeType(change.type))
    overridden = (change.decision or {}).get("override")
    if blockers and not overridden:
        names = ", ".join(b["window"] for b in blockers)
        raise Conflict(
            f"{change.number} is inside blackout window(s) {names}: reschedule or break glass"
        )
    record = dict(change.decision or {})
    record["conflicts_at_start"] = found.as_record(ChangeType(change.type))["conflicts"]
    change.decision = record
    change.actual_start = utcnow()
    move(session, change, State.IMPLEMENT, actor=actor, reason="implementation started")
    return change


def complete(
    session: Session, *, actor: Actor, change_id: int, close_code: CloseCode, notes: str
) -> ChangeRequest:
    """Record how the implementation went; normal and emergency changes go to review."""
    change = get_change(session, change_id=change_id, lock=True)
    if close_code is CloseCode.CANCELLED:
        raise InvalidInput("a started change cannot be closed as cancelled: say how it ended")
    change.close_code, change.close_notes = close_code.value, notes
    change.actual_end = utcnow()
    standard_success = change.type == ChangeType.STANDARD and close_code is CloseCode.SUCCESSFUL
    target = State.CLOSED if standard_success else State.REVIEW
    move(session, change, target, actor=actor, reason=f"implementation {close_code.value}")
    return change


def close(session: Session, *, actor: Actor, change_id: int, notes: str) -> ChangeRequest:
    """Close a reviewed change (the post-implementation review is done)."""
    change = get_change(session, change_id=change_id, lock=True)
    if notes:
        change.close_notes = f"{change.close_notes or ''}\n\nReview: {notes}".strip()
    move(session, change, State.CLOSED, actor=actor, reason="post-implementation review done")
    return change


def timeline(session: Session, *, change_id: int) -> list[ChangeTransition]:
    """A change's lifecycle steps in order."""
    get_change(session, change_id=change_id)
    query = select(ChangeTransition).where(ChangeTransition.change_id == change_id)
    return list(session.scalars(query.order_by(ChangeTransition.id)))


__all__ = [
    "Opened",
    "approve",
    "awaiting_decision",
    "cancel",
    "check_change",
    "close",
    "complete",
    "count_awaiting_decision",
    "find_conflicts",
    "get_change",
    "list_changes",
    "open_change",
    "override_freeze",
    "reject",
    "reschedule",
    "start",
    "timeline",
    "verdicts_open_to",
    "write_change",
]


FAILED_CODES = frozenset({CloseCode.FAILED.value, CloseCode.ROLLED_BACK.value})


def labelled_history(
    session: Session, *, since: datetime | None = None
) -> list[tuple[dict[str, float], int, float]]:
    """Finished changes with code metrics: (metrics, 1 if it failed, opened at as Unix time)."""
    query = select(ChangeRequest).where(
        ChangeRequest.close_code.is_not(None),
        ChangeRequest.close_code != CloseCode.CANCELLED.value,
        ChangeRequest.code_metrics.is_not(None),
    )
    if since is not None:
        query = query.where(ChangeRequest.created_at >= since)
    rows = session.scalars(query.order_by(ChangeRequest.created_at))
    return [
        (
            {k: float(v) for k, v in (c.code_metrics or {}).items()},
            int(c.close_code in FAILED_CODES),
            c.created_at.timestamp(),
        )
        for c in rows
    ]


def deployment_gate(session: Session, *, change_id: int) -> tuple[bool, str]:
    """Whether a change lets its deployment go now: approved, in its window, no blackout."""
    change = get_change(session, change_id=change_id)
    state = State(change.state)
    if state not in (State.SCHEDULED, State.IMPLEMENT):
        return False, f"{change.number} is {state.value}, not approved for implementation"
    now = utcnow()
    if change.planned_end is not None and now > change.planned_end:
        return False, f"{change.number}'s window ended at {change.planned_end.isoformat()}"
    if change.planned_start is not None and now < change.planned_start:
        return False, f"{change.number}'s window opens at {change.planned_start.isoformat()}"
    blockers = assess(session, change).blockers(ChangeType(change.type))
    if blockers and not (change.decision or {}).get("override"):
        names = ", ".join(b.get("window", b.get("kind", "?")) for b in blockers)
        return False, f"{change.number} is inside blackout window(s) {names}"
    return True, f"{change.number} is {state.value} and inside its window"


def begin_implementation(session: Session, *, actor: Actor, change_id: int) -> None:
    """Mark a scheduled change as being implemented (a deployment started); no-op if it is."""
    if get_change(session, change_id=change_id).state == State.SCHEDULED:
        start(session, actor=actor, change_id=change_id)


def finish_implementation(
    session: Session, *, actor: Actor, change_id: int, close_code: CloseCode, notes: str
) -> None:
    """Record a deployment's outcome on its change, if the change is being implemented."""
    if get_change(session, change_id=change_id).state == State.IMPLEMENT:
        complete(session, actor=actor, change_id=change_id, close_code=close_code, notes=notes)


def record_failure(session: Session, *, actor: Actor, change_id: int, reason: str) -> ChangeRequest:
    """Mark an implemented change as the cause of a failure (an incident confirmed it)."""
    change = get_change(session, change_id=change_id, lock=True)
    if change.actual_start is None and not change.receipt:
        raise Conflict(f"{change.number} was never implemented: it cannot have caused a failure")
    before = change.close_code
    change.close_code = CloseCode.FAILED.value
    change.close_notes = f"{change.close_notes or ''}\n\nFailure: {reason}".strip()
    change.updated_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="change.failed",
        object_type="change",
        object_id=change.number,
        before={"close_code": before},
        after={"close_code": change.close_code},
        reason=reason,
    )
    return change
