"""The worker that pages: fires due escalation steps, follows incidents' state, sends deliveries.

Each escalation is claimed with its row locked (FOR UPDATE SKIP LOCKED on PostgreSQL, the
BEGIN IMMEDIATE write lock on SQLite) and moved on in the same transaction that queues its
deliveries, so a step fires once however many workers run. Sending happens after commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.errors import NotFound
from flywheel.incident import (
    escalation,
    escalation_service,
    notify_service,
    oncall_service,
    service,
)
from flywheel.incident.escalation_models import Escalation, EscalationPolicy
from flywheel.incident.escalation_service import ACKNOWLEDGED, ACTIVE, EXHAUSTED, FINISHED
from flywheel.incident.models import Incident, IncidentEvent
from flywheel.incident.notifiers import Notifier
from flywheel.incident.notify_service import NOTIFIER, Recipient

log = logging.getLogger("flywheel.incident.escalation")

FOLLOWED_KINDS = ("priority.raised", "known_error")
CLAIM_SIZE, MAX_CLAIMS_PER_PASS = 5, 100
SQLITE_BREATHER_S = 0.15
FOLLOW_EVERY_S = 5.0  # how often timelines are read for events to pass on
TRIGGERED, INCIDENT_ACKED, RESOLVED = "triggered", "acknowledged", "resolved"


def _needs_work(now: datetime, *, follow: bool) -> ColumnElement[bool]:
    reasons = [
        and_(Escalation.state == ACTIVE, Escalation.next_at <= now),
        and_(Escalation.state.in_((ACTIVE, EXHAUSTED)), Incident.state != TRIGGERED),
        and_(Escalation.state == ACKNOWLEDGED, Incident.state != INCIDENT_ACKED),
        and_(Escalation.state == FINISHED, Incident.state == TRIGGERED),
    ]
    if follow:  # reads the timelines of open incidents: the costly part, done less often
        followed = exists().where(
            IncidentEvent.incident_id == Escalation.incident_id,
            IncidentEvent.id > Escalation.last_event_id,
            IncidentEvent.kind.in_(FOLLOWED_KINDS),
        )
        reasons.append(and_(Escalation.state != FINISHED, followed))
    return or_(*reasons)


def advance_escalations(
    db: Database, settings: Settings, *, now: datetime, limit: int = 10, follow: bool = True
) -> int:
    """Claim and move on up to `limit` escalations that need it; how many were worked.

    Few per transaction: on SQLite the pass holds the one write lock, which intake waits for.
    """
    pending = select(Escalation.id).join(Incident, Incident.id == Escalation.incident_id)
    with db.session() as session:  # look first: an idle pass takes no write lock
        if session.scalar(pending.where(_needs_work(now, follow=follow)).limit(1)) is None:
            return 0
    query = (
        select(Escalation, Incident)
        .join(Incident, Incident.id == Escalation.incident_id)
        .where(_needs_work(now, follow=follow))
        .order_by(Escalation.next_at, Escalation.id)
        .limit(limit)
        # The incident is claimed too: intake locks incidents before their escalations, so a
        # worker that waited for an incident while holding its escalation could deadlock.
        .with_for_update(skip_locked=True, key_share=True, of=(Escalation, Incident))
    )
    with db.session(write=True) as session:
        rows = [(row[0], row[1]) for row in session.execute(query)]
        for esc, incident in rows:
            _work(session, settings, esc, incident, now)
        session.commit()
    return len(rows)


def _note(session: Session, incident: Incident, kind: str, summary: str, now: datetime) -> None:
    service.add_event(session, incident, kind=kind, actor=NOTIFIER, summary=summary, at=now)


def _notify_paged(
    session: Session,
    settings: Settings,
    esc: Escalation,
    incident: Incident,
    event: str,
    text: str,
    tag: str,
    now: datetime,
) -> None:
    recipients = [Recipient(*entry.split(":", 1)) for entry in esc.notified]
    notify_service.enqueue(
        session,
        settings,
        incident=incident,
        event=event,
        text=text,
        recipients=recipients,
        tag=tag,
        now=now,
    )


def _work(
    session: Session, settings: Settings, esc: Escalation, incident: Incident, now: datetime
) -> None:
    _follow_state(session, settings, esc, incident, now)
    _follow_events(session, settings, esc, incident, now)
    if esc.state == ACTIVE and esc.next_at is not None and esc.next_at <= now:
        _fire(session, settings, esc, incident, now)
    esc.updated_at = now


def _follow_state(
    session: Session, settings: Settings, esc: Escalation, incident: Incident, now: datetime
) -> None:
    if incident.state == RESOLVED and esc.state != FINISHED:
        esc.state, esc.next_at = FINISHED, None
        text = f"{incident.number} resolved by {incident.resolved_by or 'its alerts'}"
        _notify_paged(
            session, settings, esc, incident, "resolved", text, f"res{incident.reopen_count}", now
        )
        if esc.fired:
            _note(session, incident, "escalation.stopped", "escalation stopped: resolved", now)
    elif incident.state == INCIDENT_ACKED and esc.state in (ACTIVE, EXHAUSTED):
        esc.state, esc.next_at = ACKNOWLEDGED, None
        if esc.fired:
            summary = f"escalation stopped: acknowledged by {incident.acknowledged_by}"
            _note(session, incident, "escalation.stopped", summary, now)
    elif incident.state == TRIGGERED and esc.state in (ACKNOWLEDGED, FINISHED):
        _restart(session, esc, incident, now, "reopened")


def _restart(
    session: Session, esc: Escalation, incident: Incident, now: datetime, why: str
) -> None:
    esc.state, esc.round, esc.step, esc.fired, esc.next_at = ACTIVE, 0, 0, 0, now
    _note(session, incident, "escalation.restarted", f"escalation restarted: {why}", now)


def _follow_events(
    session: Session, settings: Settings, esc: Escalation, incident: Incident, now: datetime
) -> None:
    query = select(IncidentEvent).where(
        IncidentEvent.incident_id == incident.id,
        IncidentEvent.id > esc.last_event_id,
        IncidentEvent.kind.in_(FOLLOWED_KINDS),
    )
    events = list(session.scalars(query.order_by(IncidentEvent.id)))
    for event in events:
        name = "priority raised" if event.kind == "priority.raised" else "known error"
        text = f"{incident.number} {name}: {event.summary}"
        _notify_paged(session, settings, esc, incident, event.kind, text, f"ev{event.id}", now)
        if event.kind == "priority.raised" and incident.priority == 1 and esc.state == EXHAUSTED:
            _restart(session, esc, incident, now, "raised to P1 and still unacknowledged")
    newest = session.scalar(
        select(func.max(IncidentEvent.id)).where(IncidentEvent.incident_id == incident.id)
    )
    esc.last_event_id = max(esc.last_event_id, int(newest or 0))


def _policy(session: Session, esc: Escalation, incident: Incident) -> EscalationPolicy | None:
    if esc.policy_key is not None:
        found = session.scalar(
            select(EscalationPolicy).where(EscalationPolicy.key == esc.policy_key)
        )
        if found is not None or esc.fired:
            return found
    return escalation_service.policy_for(session, service=incident.service)


def _recipients(
    session: Session, targets: list[dict[str, str]], incident: Incident, now: datetime
) -> list[Recipient]:
    found: list[Recipient] = []
    for target in targets:
        if target["kind"] == "schedule":
            try:
                shift = oncall_service.who_is_on_call(session, key=target["ref"], at=now)
            except NotFound:
                shift = None
            if shift is None:
                _note(
                    session,
                    incident,
                    "escalation.nobody",
                    f"nobody on call on {target['ref']}",
                    now,
                )
                continue
            found.append(Recipient("user", shift.username))
        else:
            found.append(Recipient(target["kind"], target["ref"]))
    return notify_service.expand(session, found)


def _fire(
    session: Session, settings: Settings, esc: Escalation, incident: Incident, now: datetime
) -> None:
    policy = _policy(session, esc, incident)
    if policy is None or esc.step >= len(policy.steps):
        esc.state, esc.next_at = EXHAUSTED, None
        why = "no escalation policy covers" if policy is None else "no further step for"
        _note(session, incident, "escalation.exhausted", f"{why} {incident.service}", now)
        return
    if esc.fired == 0:
        esc.policy_key = policy.key
    step = policy.steps[esc.step]
    recipients = _recipients(session, step["targets"], incident, now)
    event = "opened" if esc.fired == 0 else "escalated"
    number = f"step {esc.step + 1} of {len(policy.steps)}" + (
        f", round {esc.round + 1}" if esc.round else ""
    )
    text = (
        f"{incident.number} opened on {incident.service}: {incident.title}"
        if event == "opened"
        else f"{incident.number} is still unacknowledged: escalated to you ({number})"
    )
    tag = f"{incident.reopen_count}r{esc.round}s{esc.step}"
    notify_service.enqueue(
        session,
        settings,
        incident=incident,
        event=event,
        text=text,
        recipients=recipients,
        tag=tag,
        now=now,
    )
    names = [f"{r.kind}:{r.name}" for r in recipients]
    esc.notified = list(dict.fromkeys([*esc.notified, *names]))
    who = ", ".join(r.name for r in recipients) or "nobody"
    _note(
        session,
        incident,
        "escalation.step",
        f"escalation {number} (policy {policy.key}): paging {who}",
        now,
    )
    esc.fired += 1
    following = escalation.after(
        escalation.Position(esc.round, esc.step), steps=len(policy.steps), repeat=policy.repeat
    )
    if following is None:
        esc.state, esc.next_at = EXHAUSTED, None
        return
    esc.round, esc.step = following.round, following.step
    esc.next_at = now + timedelta(minutes=float(step.get("wait_minutes", 0)))


def page(
    db: Database, settings: Settings, *, now: datetime | None = None, follow: bool = True
) -> int:
    """Move on every escalation that needs it, a few per transaction; how many were worked."""
    moment, worked = now or utcnow(), 0
    for _ in range(MAX_CLAIMS_PER_PASS):
        claimed = advance_escalations(db, settings, now=moment, limit=CLAIM_SIZE, follow=follow)
        worked += claimed
        if claimed < CLAIM_SIZE:
            break
        if db.dialect == "sqlite":  # let writers waiting in SQLite's busy handler in first
            time.sleep(SQLITE_BREATHER_S)
    return worked


def tick(
    db: Database, settings: Settings, notifiers: dict[str, Notifier], *, now: datetime | None = None
) -> int:
    """One pass: move escalations on, then send what is due; how much was done."""
    worked = page(db, settings, now=now)
    return worked + notify_service.deliver_due(db, settings, notifiers, now=now)


class Worker:
    """Two background threads until stopped: one pages, one sends (a slow send delays no page)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self.notifiers = notify_service.notifiers_for(settings)
        self._stop = threading.Event()
        self._followed_at = 0.0
        self._threads = [
            threading.Thread(
                target=self._loop, args=(self._page,), name="flywheel-page", daemon=True
            ),
            threading.Thread(
                target=self._loop, args=(self._send,), name="flywheel-send", daemon=True
            ),
        ]

    def start(self) -> None:
        """Start paging and sending in the background."""
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the passes in progress."""
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout_s)

    def _page(self) -> None:
        follow = time.monotonic() - self._followed_at >= FOLLOW_EVERY_S
        page(self.db, self.settings, follow=follow)
        if follow:
            self._followed_at = time.monotonic()

    def _send(self) -> None:
        notify_service.deliver_due(self.db, self.settings, self.notifiers)

    def _loop(self, work: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                work()
            except Exception:  # a bad pass is logged; the next one tries again
                log.warning("notification pass failed", exc_info=True)
            self._stop.wait(self.settings.notify_worker_interval_s)
