"""Outgoing backlog webhooks: claim due deliveries, send them, record how it went, retry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.db import Database, utcnow
from flywheel.errors import Conflict, NotFound
from flywheel.problem.models import Delivery
from flywheel.problem.routing import next_delay
from flywheel.workers.queues import QueueStat, due_stat

LEASE = timedelta(minutes=2)
Sender = Callable[[str, dict[str, Any]], int]


@dataclass(frozen=True)
class Due:
    """A delivery claimed for sending."""

    id: int
    url: str
    payload: dict[str, Any]


def post_json(url: str, payload: dict[str, Any]) -> int:
    """POST the payload; the HTTP status (raises on a network failure)."""
    headers = {"User-Agent": "flywheel-problem", "Content-Type": "application/json"}
    response = httpx.post(url, json=payload, headers=headers, timeout=10.0)
    return response.status_code


def claim_due(session: Session, *, now: datetime, limit: int = 50) -> list[Due]:
    """Pending deliveries whose time has come, leased so other workers skip them."""
    query = (
        select(Delivery)
        .where(Delivery.state == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = []
    for delivery in session.scalars(query):
        delivery.next_attempt_at = now + LEASE
        claimed.append(Due(delivery.id, delivery.url, dict(delivery.payload)))
    return claimed


def record_result(
    session: Session, *, delivery_id: int, status: int | None, error: str | None, now: datetime
) -> Delivery:
    """Delivered on a 2xx; otherwise retried later with backoff, or failed for good."""
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    delivery.attempts += 1
    delivery.last_status = status
    if status is not None and 200 <= status < 300:
        delivery.state, delivery.delivered_at, delivery.last_error = "delivered", now, None
        return delivery
    delivery.last_error = (error or f"HTTP {status}")[:2000]
    delay = next_delay(delivery.attempts)
    if delay is None:
        delivery.state = "failed"
    else:
        delivery.next_attempt_at = now + delay
    return delivery


def drain(db: Database, *, send: Sender = post_json, now: datetime | None = None) -> dict[str, int]:
    """Send every due delivery once; counts of what happened."""
    when = now or utcnow()
    with db.session(write=True) as session:
        due = claim_due(session, now=when)
        session.commit()
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    for item in due:
        status, error = None, None
        try:
            status = send(item.url, item.payload)
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        with db.session(write=True) as session:
            done = record_result(session, delivery_id=item.id, status=status, error=error, now=when)
            counts["retrying" if done.state == "pending" else done.state] += 1
            session.commit()
    return counts


def list_deliveries(session: Session, *, problem_id: int | None = None) -> list[Delivery]:
    """Deliveries (of one problem), newest first."""
    query = select(Delivery)
    if problem_id is not None:
        query = query.where(Delivery.problem_id == problem_id)
    return list(session.scalars(query.order_by(Delivery.id.desc()).limit(500)))


def retry(session: Session, *, actor: Actor, delivery_id: int) -> Delivery:
    """Send a failed (or waiting) delivery again now."""
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    if delivery.state == "delivered":
        raise Conflict(f"delivery {delivery_id} was delivered already")
    delivery.state, delivery.next_attempt_at = "pending", utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="problem.delivery_retry",
        object_type="problem_delivery",
        object_id=delivery.id,
        after={"attempts": delivery.attempts},
    )
    return delivery


def due_deliveries(session: Session, now: datetime) -> QueueStat:
    """Tracker webhooks waiting to be sent: how many, and since when."""
    due = Delivery.next_attempt_at
    return due_stat(session, due, Delivery.state == "pending", due <= now)
