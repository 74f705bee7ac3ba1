"""Lifecycle steps of a change: load it, move it, and record each move."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
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


def move(
    session: Session, change: ChangeRequest, target: State, *, actor: Actor, reason: str
) -> None:
    """One legal lifecycle step, with its timeline entry and audit event."""
    check_transition(ChangeType(change.type), State(change.state), target)
    before = change.state
    change.state = target.value
    change.updated_at = utcnow()
    session.add(
        ChangeTransition(
            change_id=change.id,
            from_state=before,
            to_state=target.value,
            actor=actor.name,
            reason=reason,
        )
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"change.{target.value}",
        object_type="change",
        object_id=change.number,
        before={"state": before},
        after={"state": target.value},
        reason=reason,
    )


def walk(
    session: Session, change: ChangeRequest, target: State, *, actor: Actor, reason: str
) -> None:
    """Every legal step from the change's state to target, each one recorded."""
    for step in path_to(ChangeType(change.type), State(change.state), target):
        move(session, change, step, actor=actor, reason=reason)


def awaiting_state(change_type: ChangeType) -> State:
    """The state in which a change of this type waits for approvals."""
    return State.NEW if change_type is ChangeType.STANDARD else State.AUTHORIZE
