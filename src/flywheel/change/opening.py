"""Opening a change: check what it names, store it, assess it and take the policy's steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.change.assessment import Assessment, assess
from flywheel.change.batch_memo import batch_now, known_change, known_cis, opened_in_batch
from flywheel.change.lifecycle import ChangeType, CloseCode, State
from flywheel.change.models import ChangeCI, ChangeCommit, ChangeRequest
from flywheel.change.policy import OutcomeKind
from flywheel.change.schemas import ChangeCreate
from flywheel.change.steps import awaiting_state, record_transitions, steps_to
from flywheel.cmdb import service as cmdb
from flywheel.db import utcnow
from flywheel.errors import InvalidInput, NotFound

if TYPE_CHECKING:  # the row cmdb.service returns; the change domain never queries it
    from flywheel.cmdb.models import ConfigurationItem

SERVICE_TYPES = frozenset({"business_service", "application", "service_pool"})


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


def _named_cis(session: Session, keys: list[str]) -> list[ConfigurationItem]:
    """The CIs with these keys (from the batch's reads when there is one), or NotFound."""
    known = known_cis(session)
    if known is None:
        return cmdb.get_cis(session, keys=keys)
    missing = sorted(set(keys) - set(known))
    if missing:
        raise NotFound(f"no configuration item {', '.join(repr(k) for k in missing)}")
    return [known[k] for k in dict.fromkeys(keys)]


def _check_references(session: Session, data: ChangeCreate) -> list[ConfigurationItem]:
    """The service and CIs the change names (service first), or InvalidInput."""
    try:
        touched = _named_cis(session, [data.service, *data.cis])
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


@dataclass
class Opened:
    """A change opened (or found again by its external_id) and the audit events still due."""

    change: ChangeRequest
    created: bool
    events: list[audit.EventSpec] = field(default_factory=list)


def check_change(session: Session, *, data: ChangeCreate) -> Opened | list[ConfigurationItem]:
    """Reads only: the change already opened with this external_id, or the CIs it touches.

    Raises InvalidInput for an unknown service, CI or team, before anything is written.
    """
    known, existing = known_change(session, data)
    if not known:
        existing = _existing(session, data)
    if existing is not None:
        return Opened(existing, False)
    return _check_references(session, data)


def write_change(
    session: Session,
    *,
    actor: Actor,
    data: ChangeCreate,
    touched: list[ConfigurationItem],
    number: int | None = None,
) -> Opened:
    """Store a checked change and decide it where the policy allows (events not yet recorded).

    Alone, the change is flushed first to get its id. In a batch it comes with the id the
    batch reserved (`number`) and is written with the others at the batch's end.
    """
    change = _new_change(actor, data)
    if number is None:
        session.add(change)
        session.flush()
    else:  # written by the batch (batch_memo.write_batch): what a flush would fill in
        change.id, change.version, change.links = number, 1, {}
        change.created_at = change.updated_at = batch_now(session)
    # Assess before the first audit event: on PostgreSQL that event locks the audit chain
    # head until commit, and every audited write in the system would wait for the assessment.
    found = assess(session, change, touched=touched)
    record_transitions(session, change.id, [(None, "new")], actor=actor.name, reason="opened")
    created = audit.EventSpec("change.create", "change", change.number, after=_summary(change))
    steps = _decide(session, change, found, actor=actor, implemented_at=data.implemented_at)
    if number is not None:
        opened_in_batch(session, change)
    return Opened(change, True, [created, *steps])


def _new_change(actor: Actor, data: ChangeCreate) -> ChangeRequest:
    return ChangeRequest(
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
