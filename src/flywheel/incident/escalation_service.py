"""Escalation policies and contact methods: keep them, and start paging when incidents open."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput, NotFound, StaleVersion
from flywheel.incident import oncall_service
from flywheel.incident.escalation_models import ContactMethod, Escalation, EscalationPolicy
from flywheel.incident.escalation_schemas import ContactIn, PolicyCreate, PolicyFields
from flywheel.incident.models import Incident
from flywheel.workers.queues import QueueStat, due_stat

if TYPE_CHECKING:
    from flywheel.incident.intake import IntakeResult

ACTIVE, ACKNOWLEDGED, EXHAUSTED, FINISHED = "active", "acknowledged", "exhausted", "finished"


def _check_targets(session: Session, data: PolicyFields) -> None:
    for number, step in enumerate(data.steps, start=1):
        for target in step.targets:
            try:
                if target.kind == "schedule":
                    oncall_service.get_schedule(session, key=target.ref)
                elif target.kind == "user":
                    auth_service.get_user(session, username=target.ref)
                else:
                    auth_service.get_team(session, key=target.ref)
            except NotFound as exc:
                raise InvalidInput(f"step {number}: {exc.message}") from exc


def _check_default(session: Session, data: PolicyFields, key: str) -> None:
    if not data.default:
        return
    other = session.scalar(
        select(EscalationPolicy.key).where(
            EscalationPolicy.is_default.is_(True), EscalationPolicy.key != key
        )
    )
    if other is not None:
        raise Conflict(f"'{other}' is already the default policy: unset it first")


def _check_services(session: Session, data: PolicyFields, key: str) -> None:
    for policy in session.scalars(select(EscalationPolicy).where(EscalationPolicy.key != key)):
        shared = sorted(set(policy.services) & set(data.services))
        if shared:
            raise Conflict(f"policy '{policy.key}' already covers {', '.join(shared)}")


def _apply(policy: EscalationPolicy, data: PolicyFields) -> None:
    policy.name = data.name
    policy.services = list(data.services)
    policy.is_default = data.default
    policy.repeat = data.repeat
    policy.steps = [step.model_dump(mode="json") for step in data.steps]


def _summary(policy: EscalationPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "services": policy.services,
        "default": policy.is_default,
        "repeat": policy.repeat,
        "steps": policy.steps,
        "version": policy.version,
    }


def create_policy(session: Session, *, actor: Actor, data: PolicyCreate) -> EscalationPolicy:
    """A new escalation policy; its targets must exist, its services be free."""
    if session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.key == data.key)):
        raise Conflict(f"escalation policy '{data.key}' exists: update it with its version")
    _check_targets(session, data)
    _check_default(session, data, data.key)
    _check_services(session, data, data.key)
    policy = EscalationPolicy(key=data.key, created_by=actor.name)
    _apply(policy, data)
    session.add(policy)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="escalation.policy.create",
        object_type="escalation_policy",
        object_id=policy.key,
        after=_summary(policy),
    )
    return policy


def get_policy(session: Session, *, key: str, lock: bool = False) -> EscalationPolicy:
    """The policy with this key, or NotFound."""
    query = select(EscalationPolicy).where(EscalationPolicy.key == key)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"no escalation policy '{key}'")
    return found


def _at_version(session: Session, key: str, version: int) -> EscalationPolicy:
    policy = get_policy(session, key=key, lock=True)
    if policy.version != version:
        raise StaleVersion(
            f"policy '{key}' is at version {policy.version}, not {version}: reload and retry",
            details={"current_version": policy.version},
        )
    return policy


def update_policy(
    session: Session, *, actor: Actor, key: str, data: PolicyFields, version: int
) -> EscalationPolicy:
    """The policy's next version (409 when `version` is not the current one)."""
    policy = _at_version(session, key, version)
    _check_targets(session, data)
    _check_default(session, data, key)
    _check_services(session, data, key)
    before = _summary(policy)
    _apply(policy, data)
    policy.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="escalation.policy.update",
        object_type="escalation_policy",
        object_id=key,
        before=before,
        after=_summary(policy),
    )
    return policy


def delete_policy(session: Session, *, actor: Actor, key: str, version: int) -> None:
    """Remove a policy (running escalations keep their place but find no further steps)."""
    policy = _at_version(session, key, version)
    before = _summary(policy)
    session.delete(policy)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="escalation.policy.delete",
        object_type="escalation_policy",
        object_id=key,
        before=before,
    )


def list_policies(session: Session) -> list[EscalationPolicy]:
    """Every policy, by key."""
    return list(session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.key)))


def policy_for(session: Session, *, service: str) -> EscalationPolicy | None:
    """The policy naming the service, else the default one, else None."""
    policies = list_policies(session)
    named = [p for p in policies if service in p.services]
    if named:
        return named[0]
    return next((p for p in policies if p.is_default), None)


def _owner_exists(session: Session, owner_kind: str, owner: str) -> None:
    if owner_kind == "user":
        auth_service.get_user(session, username=owner)
    else:
        auth_service.get_team(session, key=owner)


def add_contact(
    session: Session, *, actor: Actor, owner_kind: str, owner: str, data: ContactIn
) -> ContactMethod:
    """A new way to reach a user or a team."""
    _owner_exists(session, owner_kind, owner)
    duplicate = session.scalar(
        select(ContactMethod.id).where(
            ContactMethod.owner_kind == owner_kind,
            ContactMethod.owner == owner,
            ContactMethod.channel == data.channel,
            ContactMethod.address == data.address,
        )
    )
    if duplicate is not None:
        raise Conflict(f"{owner} already has this {data.channel} contact (id {duplicate})")
    contact = ContactMethod(
        owner_kind=owner_kind,
        owner=owner,
        channel=data.channel,
        address=data.address,
        label=data.label,
        secret=data.secret,
        created_by=actor.name,
    )
    session.add(contact)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="contact.add",
        object_type=owner_kind,
        object_id=owner,
        after={"id": contact.id, "channel": contact.channel, "address": contact.address},
    )
    return contact


def contacts_of(session: Session, *, owner_kind: str, owner: str) -> list[ContactMethod]:
    """A user's or team's contact methods, oldest first (NotFound for an unknown owner)."""
    _owner_exists(session, owner_kind, owner)
    query = select(ContactMethod).where(
        ContactMethod.owner_kind == owner_kind, ContactMethod.owner == owner
    )
    return list(session.scalars(query.order_by(ContactMethod.id)))


def remove_contact(
    session: Session, *, actor: Actor, owner_kind: str, owner: str, contact_id: int
) -> None:
    """Remove one of a user's or team's contact methods."""
    contact = session.get(ContactMethod, contact_id)
    if contact is None or (contact.owner_kind, contact.owner) != (owner_kind, owner):
        raise NotFound(f"{owner} has no contact method {contact_id}")
    before = {"id": contact.id, "channel": contact.channel, "address": contact.address}
    session.delete(contact)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="contact.remove",
        object_type=owner_kind,
        object_id=owner,
        before=before,
    )


def escalation_of(session: Session, *, incident_id: int) -> Escalation | None:
    """The paging of an incident, if it was ever paged."""
    return session.scalar(select(Escalation).where(Escalation.incident_id == incident_id))


def start(session: Session, *, incident_ids: list[int], now: datetime) -> None:
    """Page for these incidents from the first step (again, for reopened ones); cheap: no I/O."""
    if not incident_ids:
        return
    known = set(
        session.scalars(
            select(Escalation.incident_id).where(Escalation.incident_id.in_(incident_ids))
        )
    )
    restart = {
        "state": ACTIVE,
        "round": 0,
        "step": 0,
        "fired": 0,
        "next_at": now,
        "updated_at": now,
    }
    if known:
        session.execute(
            update(Escalation).where(Escalation.incident_id.in_(known)).values(**restart)
        )
    for incident_id in incident_ids:
        if incident_id not in known:
            session.add(Escalation(incident_id=incident_id, started_at=now, **restart))
    session.flush()


def ids_of_numbers(session: Session, numbers: list[str]) -> list[int]:
    """Incident ids of numbers like INC0000042."""
    ids = [int(n.removeprefix("INC")) for n in numbers if n.startswith("INC")]
    if not ids:
        return []
    return list(session.scalars(select(Incident.id).where(Incident.id.in_(ids))))


def on_intake(session: Session, result: IntakeResult, actor: Actor, now: datetime) -> None:
    """The intake reaction: page for incidents a batch opened or reopened."""
    numbers = result.incidents_opened + result.incidents_reopened
    start(session, incident_ids=ids_of_numbers(session, numbers), now=now)


def due_escalations(session: Session, now: datetime) -> QueueStat:
    """Escalations whose next step is due: how many, and the earliest due time."""
    return due_stat(
        session, Escalation.next_at, Escalation.state == ACTIVE, Escalation.next_at <= now
    )
