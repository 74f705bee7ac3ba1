"""Change requests: open, decide, approve, implement and close them, with an audit trail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.change.approvals import (
    approve,
    awaiting_decision,
    count_awaiting_decision,
    override_freeze,
    reject,
    verdicts_open_to,
)
from flywheel.change.assessment import Assessment, assess, find_conflicts
from flywheel.change.lifecycle import (
    ChangeType,
    CloseCode,
    State,
    check_transition,
)
from flywheel.change.models import (
    ChangeCI,
    ChangeCommit,
    ChangeRequest,
    ChangeTransition,
)
from flywheel.change.policy import OutcomeKind
from flywheel.change.queries import approved_at as approved_at
from flywheel.change.queries import changes_mentioning as changes_mentioning
from flywheel.change.queries import close_codes_query as close_codes_query
from flywheel.change.queries import commit_times_query as commit_times_query
from flywheel.change.queries import first_commit_at as first_commit_at
from flywheel.change.queries import pipeline_changes as pipeline_changes
from flywheel.change.rescheduling import reschedule
from flywheel.change.schemas import ChangeCreate
from flywheel.change.steps import (
    awaiting_state,
    get_change,
    move,
    record_transitions,
    steps_to,
)
from flywheel.cmdb import service as cmdb
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:  # the row cmdb.service returns; the change domain never queries it
    from flywheel.cmdb.models import ConfigurationItem

SERVICE_TYPES = frozenset({"business_service", "application", "service_pool"})


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


def _summary(change: ChangeRequest) -> dict[str, Any]:
    return {
        "number": change.number,
        "type": change.type,
        "state": change.state,
        "service": change.service,
        "title": change.title,
        "version": change.version_label,
        "risk": change.risk_level,
    }


def _check_references(session: Session, data: ChangeCreate) -> list[ConfigurationItem]:
    """The service and CIs the change names (service first), or InvalidInput."""
    try:
        touched = cmdb.get_cis(session, keys=[data.service, *data.cis])
    except NotFound as exc:
        raise InvalidInput(f"unknown service or CI: {exc.message}") from exc
    service = next(c for c in touched if c.key == data.service)
    if service.type not in SERVICE_TYPES:
        raise InvalidInput(f"'{data.service}' is a {service.type}, not a service")
    if data.assigned_team:
        try:
            auth_service.get_team(session, key=data.assigned_team)
        except NotFound as exc:
            raise InvalidInput(f"unknown assigned_team '{data.assigned_team}'") from exc
    return [service, *(c for c in touched if c.key != data.service)]


def _existing(session: Session, data: ChangeCreate) -> ChangeRequest | None:
    if data.external_id is None:
        return None
    return session.scalar(
        select(ChangeRequest).where(
            ChangeRequest.service == data.service, ChangeRequest.external_id == data.external_id
        )
    )


def open_change(
    session: Session,
    *,
    actor: Actor,
    data: ChangeCreate,
    on_decided: Callable[[ChangeRequest], None] | None = None,
) -> tuple[ChangeRequest, bool]:
    """Open a change and decide it at once where the policy allows; (change, created).

    `on_decided` sees the decided change before its audit events are written: on
    PostgreSQL they hold the audit chain head until commit, so work done there (the
    HTTP answer) does not make every other audited write wait.
    """
    existing = _existing(session, data)
    if existing is not None:
        return existing, False
    touched = _check_references(session, data)
    change = ChangeRequest(
        type=data.type.value,
        state=State.NEW.value,
        service=data.service,
        title=data.title,
        description=data.description,
        implementation_plan=data.implementation_plan,
        backout_plan=data.backout_plan,
        requested_by=actor.name,
        requested_by_user_id=actor.user_id,
        assigned_team=data.assigned_team,
        planned_start=data.planned_start,
        planned_end=data.planned_end,
        version_label=data.version,
        artifact=data.artifact,
        external_id=data.external_id,
        receipt=data.receipt,
        test_results=data.test_results,
        code_metrics=data.code_metrics,
        cis=[ChangeCI(ci_key=k) for k in sorted(set(data.cis) - {data.service})],
        commits=[ChangeCommit(position=i, **c.model_dump()) for i, c in enumerate(data.commits)],
        approvals=[],  # known empty: the answer needs no query for them
    )
    session.add(change)
    session.flush()
    # Assess before the first audit event: on PostgreSQL that event locks the audit chain
    # head until commit, and every audited write in the system would wait for the assessment.
    found = assess(session, change, touched=touched)
    record_transitions(session, change.id, [(None, "new")], actor=actor.name, reason="opened")
    created = audit.EventSpec("change.create", "change", change.number, after=_summary(change))
    steps = _decide(session, change, found, actor=actor, implemented_at=data.implemented_at)
    if on_decided is not None:
        session.flush()
        on_decided(change)
    audit.record_many(session, actor=actor, events=[created, *steps])
    return change, True


def _store_assessment(change: ChangeRequest, found: Assessment) -> None:
    change.risk_score = found.risk.score
    change.risk_level = found.decision.risk_level or found.risk.level
    change.risk_explanation = {"factors": found.risk.explanation}
    change.risk_model_version = found.risk.model_version
    change.decision = found.as_record(ChangeType(change.type))


def _decide(
    session: Session,
    change: ChangeRequest,
    found: Assessment,
    *,
    actor: Actor,
    implemented_at: datetime | None,
) -> list[audit.EventSpec]:
    """Apply the decision's state steps; their audit events, still to record."""
    _store_assessment(change, found)
    kind = found.decision.outcome
    reason = f"policy {found.policy_scope} v{found.policy_version}: {found.decision.summary}"
    change_type = ChangeType(change.type)
    if kind is OutcomeKind.REJECT:
        return steps_to(session, change, State.REJECTED, actor=actor, reason=reason)
    if kind is OutcomeKind.AUTO_APPROVE and not found.blockers(change_type):
        events = steps_to(session, change, State.SCHEDULED, actor=actor, reason=reason)
        if change.receipt:
            events += _record_receipt(session, change, actor=actor, implemented_at=implemented_at)
        return events
    return steps_to(session, change, awaiting_state(change_type), actor=actor, reason=reason)


def _record_receipt(
    session: Session, change: ChangeRequest, *, actor: Actor, implemented_at: datetime | None
) -> list[audit.EventSpec]:
    change.actual_start = change.actual_end = implemented_at or utcnow()
    change.close_code = CloseCode.SUCCESSFUL.value
    reason = "change receipt: recorded after the fact"
    return steps_to(session, change, State.CLOSED, actor=actor, reason=reason)


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
    "approve",
    "awaiting_decision",
    "cancel",
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
