"""Notification deliveries: queue them in a transaction, send them after, retry with backoff."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor, system_actor
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.errors import Conflict, NotFound
from flywheel.incident import escalation, notify_links, service, severity
from flywheel.incident.escalation_models import ContactMethod, NotificationDelivery
from flywheel.incident.models import Incident
from flywheel.incident.notifiers import DeliveryError, Message, Notifier, Target
from flywheel.incident.notifiers.email import EmailNotifier, SmtpServer
from flywheel.incident.notifiers.slack import SlackNotifier
from flywheel.incident.notifiers.webhook import WebhookNotifier
from flywheel.workers.queues import QueueStat, due_stat

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
NOTIFIER = system_actor("notify")
LEASE = timedelta(minutes=2)
SENDERS = 8


@dataclass(frozen=True)
class Recipient:
    """Someone to notify: a user (who gets an acknowledge link) or a team's channels."""

    kind: str
    name: str


def notifiers_for(settings: Settings) -> dict[str, Notifier]:
    """One notifier per channel, configured from the settings."""
    timeout = settings.notify_timeout_s
    smtp = SmtpServer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_sender,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password,
    )
    return {
        "email": EmailNotifier(smtp, timeout_s=timeout),
        "slack": SlackNotifier(timeout_s=timeout),
        "webhook": WebhookNotifier(timeout_s=timeout),
    }


def _contacts(session: Session, recipient: Recipient) -> list[ContactMethod]:
    query = select(ContactMethod).where(
        ContactMethod.owner_kind == recipient.kind, ContactMethod.owner == recipient.name
    )
    return list(session.scalars(query.order_by(ContactMethod.id)))


def expand(session: Session, recipients: list[Recipient]) -> list[Recipient]:
    """Teams without a contact method of their own are reached through their members."""
    found: list[Recipient] = []
    for recipient in recipients:
        if recipient.kind == "team" and not _contacts(session, recipient):
            team = auth_service.get_team(session, key=recipient.name)
            members = auth_service.member_usernames(session, team_id=team.id)
            found += [Recipient("user", name) for name in members]
        else:
            found.append(recipient)
    return list(dict.fromkeys(found))


def _message(
    settings: Settings, incident: Incident, event: str, text: str, recipient: Recipient
) -> Message:
    ack = ""
    if recipient.kind == "user" and event != "resolved":
        ack = notify_links.ack_url(settings, incident_id=incident.id, username=recipient.name)
    return Message(
        event=event,
        incident=incident.number,
        incident_id=incident.id,
        title=incident.title,
        priority=severity.label(incident.priority),
        service=incident.service,
        text=text,
        recipient=recipient.name,
        incident_url=notify_links.incident_url(settings, incident.id),
        ack_url=ack,
    )


def enqueue(
    session: Session,
    settings: Settings,
    *,
    incident: Incident,
    event: str,
    text: str,
    recipients: list[Recipient],
    tag: str,
    now: datetime,
) -> list[str]:
    """Queue one delivery per contact method of each recipient; names of those unreachable."""
    unreachable: list[str] = []
    for recipient in recipients:
        contacts = _contacts(session, recipient)
        if not contacts:
            unreachable.append(recipient.name)
        for contact in contacts:
            key = f"{incident.id}:{event}:{tag}:{contact.id}"
            if session.scalar(
                select(NotificationDelivery.id).where(NotificationDelivery.dedupe_key == key)
            ):
                continue
            message = _message(settings, incident, event, text, recipient)
            session.add(
                NotificationDelivery(
                    incident_id=incident.id,
                    dedupe_key=key,
                    event=event,
                    recipient=recipient.name,
                    recipient_kind=recipient.kind,
                    channel=contact.channel,
                    address=contact.address,
                    contact_method_id=contact.id,
                    message=message.as_dict(),
                    status=PENDING,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
    if unreachable:
        summary = f"no contact method for {', '.join(unreachable)}: not notified of {event}"
        service.add_event(
            session,
            incident,
            kind="notification.unreachable",
            actor=NOTIFIER,
            summary=summary,
            at=now,
        )
    session.flush()
    return unreachable


@dataclass(frozen=True)
class Claimed:
    """A delivery taken by this worker, with what it needs to send."""

    id: int
    channel: str
    message: Message
    target: Target
    attempts: int


def claim_due(db: Database, *, now: datetime, limit: int = 20) -> list[Claimed]:
    """Take due deliveries (and ones a dead worker left mid-send) for this worker to send."""
    due = or_(
        (NotificationDelivery.status == PENDING) & (NotificationDelivery.next_attempt_at <= now),
        (NotificationDelivery.status == SENDING) & (NotificationDelivery.claimed_until < now),
    )
    query = (
        select(NotificationDelivery)
        .where(due)
        .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed: list[Claimed] = []
    with db.session() as session:  # look first: an idle pass takes no write lock
        if session.scalar(select(NotificationDelivery.id).where(due).limit(1)) is None:
            return claimed
    with db.session(write=True) as session:
        for row in session.scalars(query):
            row.status, row.claimed_until = SENDING, now + LEASE
            row.attempts += 1
            row.updated_at = now
            secret = session.scalar(
                select(ContactMethod.secret).where(ContactMethod.id == row.contact_method_id)
            )
            target = Target(row.address, secret)
            claimed.append(
                Claimed(row.id, row.channel, Message.from_dict(row.message), target, row.attempts)
            )
        session.commit()
    return claimed


def send(notifiers: dict[str, Notifier], claimed: Claimed) -> DeliveryError | None:
    """Send one delivery; the error when it failed (never raises for a channel's failure)."""
    notifier = notifiers.get(claimed.channel)
    if notifier is None:
        return DeliveryError(f"no notifier for channel '{claimed.channel}'", retryable=False)
    try:
        notifier.send(claimed.message, claimed.target)
    except DeliveryError as exc:
        return exc
    except Exception as exc:  # a channel's bug must not stop the worker
        return DeliveryError(f"{type(exc).__name__}: {exc}")
    return None


def _who(row: NotificationDelivery) -> str:
    return row.recipient if row.recipient_kind == "user" else f"#{row.recipient}"


def _apply_outcome(
    session: Session,
    settings: Settings,
    row: NotificationDelivery,
    error: DeliveryError | None,
    now: datetime,
) -> None:
    incident = service.get_incident(session, incident_id=row.incident_id)
    row.claimed_until, row.updated_at = None, now
    if error is None:
        row.status, row.sent_at, row.next_attempt_at, row.last_error = SENT, now, None, None
        kind = "notification.sent"
        summary = f"notified {_who(row)} by {row.channel} ({row.event})"
    elif error.retryable and row.attempts < settings.notify_max_attempts:
        delay = escalation.retry_delay_s(
            row.attempts, base_s=settings.notify_retry_base_s, cap_s=settings.notify_retry_cap_s
        )
        row.status, row.last_error = PENDING, str(error)
        row.next_attempt_at = now + timedelta(seconds=delay)
        kind = "notification.retry"
        summary = (
            f"delivery to {_who(row)} by {row.channel} failed ({error}),"
            f" retry {row.attempts} in {delay:g} s"
        )
    else:
        row.status, row.last_error, row.next_attempt_at = FAILED, str(error), None
        kind = "notification.failed"
        summary = (
            f"delivery to {_who(row)} by {row.channel} failed"
            f" after {row.attempts} attempt(s): {error}"
        )
    data = {"delivery_id": row.id, "channel": row.channel, "attempts": row.attempts}
    service.add_event(
        session, incident, kind=kind, actor=NOTIFIER, summary=summary, data=data, at=now
    )


def record_outcomes(
    db: Database,
    settings: Settings,
    outcomes: list[tuple[int, DeliveryError | None]],
    *,
    now: datetime,
) -> dict[int, str]:
    """Write what sends did (sent, retry later, failed for good), one short transaction for all."""
    errors = dict(outcomes)
    query = (
        select(NotificationDelivery)
        .where(NotificationDelivery.id.in_(list(errors)), NotificationDelivery.status == SENDING)
        .order_by(NotificationDelivery.id)
        .with_for_update()
    )
    with db.session(write=True) as session:
        rows = list(session.scalars(query))
        for row in rows:
            _apply_outcome(session, settings, row, errors[row.id], now)
        session.commit()
        return {row.id: row.status for row in rows}


def deliver_due(
    db: Database, settings: Settings, notifiers: dict[str, Notifier], *, now: datetime | None = None
) -> int:
    """Send every due delivery once, a few at a time (one slow endpoint holds up no other)."""
    claimed = claim_due(db, now=now or utcnow())
    if not claimed:
        return 0
    with ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="flywheel-send") as pool:
        errors = list(pool.map(lambda item: send(notifiers, item), claimed))
    outcomes = [(item.id, error) for item, error in zip(claimed, errors, strict=True)]
    record_outcomes(db, settings, outcomes, now=now or utcnow())
    return len(claimed)


def list_deliveries(
    session: Session,
    *,
    incident_id: int | None = None,
    status: str | None = None,
    cursor: int | None = None,
    limit: int = 100,
) -> list[NotificationDelivery]:
    """Deliveries, newest first; filter by incident and status."""
    query = select(NotificationDelivery)
    if incident_id is not None:
        query = query.where(NotificationDelivery.incident_id == incident_id)
    if status:
        query = query.where(NotificationDelivery.status == status)
    if cursor is not None:
        query = query.where(NotificationDelivery.id < cursor)
    return list(session.scalars(query.order_by(NotificationDelivery.id.desc()).limit(limit)))


def get_delivery(session: Session, *, delivery_id: int, lock: bool = False) -> NotificationDelivery:
    """A delivery by id, or NotFound."""
    query = select(NotificationDelivery).where(NotificationDelivery.id == delivery_id)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"no notification delivery {delivery_id}")
    return found


def retry_now(session: Session, *, actor: Actor, delivery_id: int) -> NotificationDelivery:
    """Send a waiting or failed delivery at the next worker pass (409 when sent or sending)."""
    row = get_delivery(session, delivery_id=delivery_id, lock=True)
    if row.status in (SENT, SENDING):
        raise Conflict(f"delivery {delivery_id} is {row.status}: nothing to retry")
    before = {"status": row.status, "attempts": row.attempts}
    now = utcnow()
    row.status, row.next_attempt_at, row.updated_at = PENDING, now, now
    if before["status"] == FAILED:
        row.attempts = 0
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="notification.retry",
        object_type="notification_delivery",
        object_id=row.id,
        before=before,
        after={"status": row.status, "attempts": row.attempts},
    )
    return row


def due_deliveries(session: Session, now: datetime) -> QueueStat:
    """Notifications waiting to be sent (or re-sent): how many, and since when."""
    due = NotificationDelivery.next_attempt_at
    return due_stat(session, due, NotificationDelivery.status == PENDING, due <= now)
