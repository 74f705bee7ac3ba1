"""API routes of escalation policies, contact methods and notification deliveries."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.errors import NotFound
from flywheel.http.deps import DbSession, cursor_to_id, require
from flywheel.incident import escalation_service, notify_service, service
from flywheel.incident.escalation_models import ContactMethod
from flywheel.incident.escalation_schemas import (
    ContactIn,
    ContactOut,
    DeliveryOut,
    EscalationOut,
    PolicyCreate,
    PolicyOut,
    PolicyUpdate,
)
from flywheel.schemas import Page

router = APIRouter(tags=["escalation"])

Reader = Annotated[Actor, Depends(require(Permission.INCIDENT_READ))]
Responder = Annotated[Actor, Depends(require(Permission.INCIDENT_RESPOND))]
Manager = Annotated[Actor, Depends(require(Permission.ONCALL_MANAGE))]
PeopleReader = Annotated[Actor, Depends(require(Permission.USER_READ))]
DeliveryStatus = Literal["pending", "sending", "sent", "failed"]


@router.post("/escalation-policies", response_model=PolicyOut, status_code=status.HTTP_201_CREATED)
def create_policy(data: PolicyCreate, session: DbSession, actor: Manager) -> PolicyOut:
    """A new escalation policy for some services (or the default one)."""
    policy = escalation_service.create_policy(session, actor=actor, data=data)
    session.commit()
    return PolicyOut.model_validate(policy)


@router.get("/escalation-policies", response_model=list[PolicyOut])
def list_policies(session: DbSession, _: Reader) -> list[PolicyOut]:
    """Every escalation policy."""
    return [PolicyOut.model_validate(p) for p in escalation_service.list_policies(session)]


@router.get("/escalation-policies/{key}", response_model=PolicyOut)
def read_policy(key: str, session: DbSession, _: Reader) -> PolicyOut:
    """One escalation policy."""
    return PolicyOut.model_validate(escalation_service.get_policy(session, key=key))


@router.put("/escalation-policies/{key}", response_model=PolicyOut)
def update_policy(key: str, data: PolicyUpdate, session: DbSession, actor: Manager) -> PolicyOut:
    """The policy's next version (send the version you read; a stale one is 409)."""
    policy = escalation_service.update_policy(
        session, actor=actor, key=key, data=data, version=data.version
    )
    session.commit()
    return PolicyOut.model_validate(policy)


@router.delete("/escalation-policies/{key}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(
    key: str, session: DbSession, actor: Manager, version: Annotated[int, Query(ge=1)]
) -> None:
    """Remove a policy (send the version you read; a stale one is 409)."""
    escalation_service.delete_policy(session, actor=actor, key=key, version=version)
    session.commit()


def _contact(contact: ContactMethod) -> ContactOut:
    return ContactOut(
        id=contact.id,
        owner_kind=contact.owner_kind,
        owner=contact.owner,
        channel=contact.channel,
        address=contact.address,
        label=contact.label,
        signed=contact.secret is not None,
        created_at=contact.created_at,
        created_by=contact.created_by,
    )


def _list_contacts(session: DbSession, owner_kind: str, owner: str) -> list[ContactOut]:
    found = escalation_service.contacts_of(session, owner_kind=owner_kind, owner=owner)
    return [_contact(c) for c in found]


def _add_contact(
    session: DbSession, actor: Actor, owner_kind: str, owner: str, data: ContactIn
) -> ContactOut:
    contact = escalation_service.add_contact(
        session, actor=actor, owner_kind=owner_kind, owner=owner, data=data
    )
    session.commit()
    return _contact(contact)


@router.get("/users/{username}/contact-methods", response_model=list[ContactOut])
def user_contacts(username: str, session: DbSession, _: PeopleReader) -> list[ContactOut]:
    """How a user is reached when paged."""
    return _list_contacts(session, "user", username)


@router.post(
    "/users/{username}/contact-methods",
    response_model=ContactOut,
    status_code=status.HTTP_201_CREATED,
)
def add_user_contact(
    username: str, data: ContactIn, session: DbSession, actor: Manager
) -> ContactOut:
    """A new way to reach a user: an e-mail address or a webhook."""
    return _add_contact(session, actor, "user", username, data)


@router.delete(
    "/users/{username}/contact-methods/{contact_id}", status_code=status.HTTP_204_NO_CONTENT
)
def remove_user_contact(username: str, contact_id: int, session: DbSession, actor: Manager) -> None:
    """Stop reaching a user this way."""
    escalation_service.remove_contact(
        session, actor=actor, owner_kind="user", owner=username, contact_id=contact_id
    )
    session.commit()


@router.get("/teams/{key}/contact-methods", response_model=list[ContactOut])
def team_contacts(key: str, session: DbSession, _: PeopleReader) -> list[ContactOut]:
    """A team's channels (without any, its members are reached instead)."""
    return _list_contacts(session, "team", key)


@router.post(
    "/teams/{key}/contact-methods", response_model=ContactOut, status_code=status.HTTP_201_CREATED
)
def add_team_contact(key: str, data: ContactIn, session: DbSession, actor: Manager) -> ContactOut:
    """A new channel for a team: a Slack webhook, a JSON webhook, a list address."""
    return _add_contact(session, actor, "team", key, data)


@router.delete("/teams/{key}/contact-methods/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_team_contact(key: str, contact_id: int, session: DbSession, actor: Manager) -> None:
    """Stop reaching a team this way."""
    escalation_service.remove_contact(
        session, actor=actor, owner_kind="team", owner=key, contact_id=contact_id
    )
    session.commit()


@router.get("/notifications", response_model=Page[DeliveryOut])
def list_notifications(
    session: DbSession,
    _: Reader,
    incident: Annotated[int | None, Query(ge=1, description="An incident id")] = None,
    status_filter: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[DeliveryOut]:
    """Notification deliveries, newest first; filter by incident and status."""
    if incident is not None:
        service.get_incident(session, incident_id=incident)
    after = cursor_to_id(cursor)
    found = notify_service.list_deliveries(
        session, incident_id=incident, status=status_filter, cursor=after or None, limit=limit
    )
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page(items=[DeliveryOut.model_validate(d) for d in found], next_cursor=next_cursor)


@router.get("/notifications/{delivery_id}", response_model=DeliveryOut)
def read_notification(delivery_id: int, session: DbSession, _: Reader) -> DeliveryOut:
    """One delivery with its attempts."""
    return DeliveryOut.model_validate(notify_service.get_delivery(session, delivery_id=delivery_id))


@router.post("/notifications/{delivery_id}/retry", response_model=DeliveryOut)
def retry_notification(delivery_id: int, session: DbSession, actor: Responder) -> DeliveryOut:
    """Send a waiting or failed delivery now (409 when it was sent)."""
    row = notify_service.retry_now(session, actor=actor, delivery_id=delivery_id)
    session.commit()
    return DeliveryOut.model_validate(row)


@router.get("/incidents/{incident_id}/escalation", response_model=EscalationOut)
def read_escalation(incident_id: int, session: DbSession, _: Reader) -> EscalationOut:
    """Where the paging of an incident stands."""
    service.get_incident(session, incident_id=incident_id)
    found = escalation_service.escalation_of(session, incident_id=incident_id)
    if found is None:
        raise NotFound(f"incident {incident_id} was never paged")
    return EscalationOut.model_validate(found)
