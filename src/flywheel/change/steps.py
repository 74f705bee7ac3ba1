"""Lifecycle steps of a change: load it, move it, and record each move."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.change.batch_memo import defer_transitions
from flywheel.change.lifecycle import ChangeType, State, check_transition, path_to
from flywheel.change.models import ChangeRequest, ChangeTransition
from flywheel.db import utcnow
from flywheel.errors import NotFound


def get_change(session: Session, *, change_id: int, lock: bool = False) -> ChangeRequest:
    """A change by id (locked for update when asked), or NotFound."""
    query = select(ChangeRequest).where(ChangeRequest.id == change_id)
    change = session.scalar(query.with_for_update() if lock else query)
    if change is None:
        raise NotFound(f"no change {change_id}")
    return change


def steps_to(
    session: Session, change: ChangeRequest, target: State, *, actor: Actor, reason: str
) -> list[audit.EventSpec]:
    """Take every legal step to target at once; the audit events still to record, in order.

    The change row is written once (at the next flush) and the timeline entries in one
    multi-row insert now; the caller records the events (audit.record_many) in the same
    transaction.
    """
    path = path_to(ChangeType(change.type), State(change.state), target)
    events: list[audit.EventSpec] = []
    before = change.state
    moves: list[tuple[str | None, str]] = []
    for step in path:
        moves.append((before, step.value))
        events.append(
            audit.EventSpec(
                action=f"change.{step.value}",
                object_type="change",
                object_id=change.number,
                before={"state": before},
                after={"state": step.value},
                reason=reason,
            )
        )
        before = step.value
    if path:
        change.state = target.value
        change.updated_at = utcnow()
        # The insert autoflushes the change first: its row is still written once.
        record_transitions(session, change.id, moves, actor=actor.name, reason=reason)
    return events


def record_transitions(
    session: Session,
    change_id: int,
    moves: list[tuple[str | None, str]],
    *,
    actor: str,
    reason: str | None,
) -> None:
    """Timeline entries (from, to), in order, with one Core multi-row insert."""
    at = utcnow()
    rows = [
        {"change_id": change_id, "from_state": before, "to_state": after, "at": at}
        | {"actor": actor, "reason": reason}
        for before, after in moves
    ]
    if not defer_transitions(session, rows):
        session.execute(insert(cast(Table, ChangeTransition.__table__)), rows)


def move(
    session: Session, change: ChangeRequest, target: State, *, actor: Actor, reason: str
) -> None:
    """One legal lifecycle step, with its timeline entry and audit event."""
    check_transition(ChangeType(change.type), State(change.state), target)
    walk(session, change, target, actor=actor, reason=reason)


def walk(
    session: Session, change: ChangeRequest, target: State, *, actor: Actor, reason: str
) -> None:
    """Every legal step from the change's state to target, each one recorded."""
    events = steps_to(session, change, target, actor=actor, reason=reason)
    audit.record_many(session, actor=actor, events=events)


def awaiting_state(change_type: ChangeType) -> State:
    """The state in which a change of this type waits for approvals."""
    return State.NEW if change_type is ChangeType.STANDARD else State.AUTHORIZE
