"""Moving a change that has not started to a new planned window, with the checks re-run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.change.assessment import Assessment, assess
from flywheel.change.lifecycle import ChangeType, IllegalTransition, State
from flywheel.change.models import ChangeRequest
from flywheel.change.steps import get_change
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput, PermissionDenied, StaleVersion

RESCHEDULABLE = (State.NEW, State.ASSESS, State.AUTHORIZE, State.SCHEDULED)


def _check_request(
    change: ChangeRequest, start: datetime, end: datetime, version: int | None
) -> None:
    if version is not None and version != change.version:
        raise StaleVersion(
            f"{change.number} changed since you read it (now version {change.version})",
            details={"row_version": change.version},
        )
    if State(change.state) not in RESCHEDULABLE:
        allowed = ", ".join(s.value for s in RESCHEDULABLE)
        raise IllegalTransition(
            f"{change.number} is '{change.state}': only a change in {allowed} can be rescheduled",
            details={"state": change.state, "allowed": [s.value for s in RESCHEDULABLE]},
        )
    if end <= start:
        raise InvalidInput("planned_end must be after planned_start")
    if end <= utcnow():
        raise InvalidInput("the new window has already ended: planned_end must be in the future")


def _break_glass(actor: Actor, blockers: list[dict[str, Any]], reason: str) -> dict[str, str]:
    roles = {r.value for r in actor.roles}
    refused = [b["window"] for b in blockers if roles.isdisjoint(b["override_roles"])]
    if refused:
        raise PermissionDenied(
            f"'{actor.name}' may not override blackout window(s) {', '.join(refused)}"
        )
    return {"by": actor.name, "reason": reason, "at": utcnow().isoformat()}


def _window(change: ChangeRequest) -> dict[str, str | None]:
    start, end = change.planned_start, change.planned_end
    return {
        "planned_start": start.isoformat() if start else None,
        "planned_end": end.isoformat() if end else None,
    }


def reschedule(
    session: Session,
    *,
    actor: Actor,
    change_id: int,
    planned_start: datetime,
    planned_end: datetime,
    expected_version: int | None = None,
    break_glass_reason: str | None = None,
) -> ChangeRequest:
    """Move a change that has not started to a new window; conflicts and windows re-checked.

    The approval stands. An approved (scheduled) change may not move into a blackout
    window unless the actor breaks glass with a reason and a role the window allows;
    a change still awaiting approval records the blockers, as at submission.
    """
    change = get_change(session, change_id=change_id, lock=True)
    _check_request(change, planned_start, planned_end, expected_version)
    before = _window(change)
    change.planned_start, change.planned_end = planned_start, planned_end
    found: Assessment = assess(session, change)
    change_type = ChangeType(change.type)
    blockers = found.blockers(change_type)
    record = {**(change.decision or {}), **_rechecked(found, change_type)}
    record.pop("override", None)  # an override was for the old window
    if blockers and change.state == State.SCHEDULED.value:
        if not break_glass_reason:
            names = ", ".join(b["window"] for b in blockers)
            raise Conflict(
                f"{change.number} is approved and the new window is inside blackout window(s) "
                f"{names}: choose another time or break glass with a reason",
                details={"blockers": blockers},
            )
        record["override"] = _break_glass(actor, blockers, break_glass_reason)
        record["blockers"] = []
    change.decision = record
    change.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="change.reschedule",
        object_type="change",
        object_id=change.number,
        before=before,
        after={
            **_window(change),
            "conflicts": len(found.conflicts),
            "blockers": [b["window"] for b in blockers],
            "break_glass": "override" in record,
        },
        reason=break_glass_reason,
    )
    return change


def _rechecked(found: Assessment, change_type: ChangeType) -> dict[str, Any]:
    """The parts of the stored decision that depend on the window."""
    fresh = found.as_record(change_type)
    return {k: fresh[k] for k in ("blockers", "conflicts", "warnings")}
