"""Appending to, reading and verifying the audit log."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from flywheel.audit import append
from flywheel.audit.chain import (
    GENESIS_HASH,
    ChainRecord,
    ChainReport,
    digest,
    find_break,
    to_json_value,
)
from flywheel.audit.models import AuditChainHead, AuditEvent
from flywheel.audit.redact import redacted
from flywheel.auth.actor import Actor
from flywheel.context import current_request_id
from flywheel.db import utcnow

HEAD_ID = 1
_VERIFY_BATCH = 5_000


@dataclass(frozen=True)
class EventSpec:
    """One event to append: what happened to which object (the actor is the caller's)."""

    action: str
    object_type: str
    object_id: str | int
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | int,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> ChainRecord:
    """Append one event in the caller's transaction, chained to the current head.

    The head row is locked (FOR UPDATE on PostgreSQL; SQLite writers hold the
    database lock from BEGIN IMMEDIATE) so concurrent writers queue up instead
    of forking the chain; the lock is released when the caller commits. The
    caller's pending changes are flushed first, so the lock is held briefly.
    """
    spec = EventSpec(action, object_type, object_id, before, after, reason)
    return record_many(session, actor=actor, events=[spec])[0]


def record_many(
    session: Session, *, actor: Actor, events: Sequence[EventSpec]
) -> list[ChainRecord]:
    """Append several events in order with one head lock and one head move (see record)."""
    return record_batch(session, [(actor, current_request_id(), events)])


def record_batch(
    session: Session, entries: Sequence[tuple[Actor, str | None, Sequence[EventSpec]]]
) -> list[ChainRecord]:
    """Append the events of several requests (actor, request id, events) with one head lock."""
    if not any(events for _, _, events in entries):
        return []
    if session.new or session.dirty or session.deleted:
        session.flush()
    conn = session.connection()
    head = append.read_head(conn)
    if head is None:
        raise RuntimeError("audit chain head is missing: run `flywheel db upgrade`")
    head_seq, head_hash = head
    chained: list[ChainRecord] = []
    for actor, request_id, events in entries:
        for spec in events:
            content = ChainRecord(
                seq=head_seq + 1,
                occurred_at=utcnow(),
                actor=actor.name,
                actor_user_id=actor.user_id,
                action=spec.action,
                object_type=spec.object_type,
                object_id=str(spec.object_id),
                before=to_json_value(redacted(spec.before)),
                after=to_json_value(redacted(spec.after)),
                reason=spec.reason,
                request_id=request_id,
                prev_hash=head_hash,
            )
            event = replace(content, hash=digest(content))
            chained.append(event)
            head_seq, head_hash = event.seq, event.hash
    append.write_events(conn, chained)
    return chained


@dataclass(frozen=True)
class AuditFilter:
    """Which events to list or export."""

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    request_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query: Select[tuple[AuditEvent]], flt: AuditFilter) -> Select[tuple[AuditEvent]]:
    equals = {
        AuditEvent.actor: flt.actor,
        AuditEvent.action: flt.action,
        AuditEvent.object_type: flt.object_type,
        AuditEvent.object_id: flt.object_id,
        AuditEvent.request_id: flt.request_id,
    }
    for column, value in equals.items():
        if value is not None:
            query = query.where(column == value)
    if flt.since is not None:
        query = query.where(AuditEvent.occurred_at >= flt.since)
    if flt.until is not None:
        query = query.where(AuditEvent.occurred_at < flt.until)
    return query


def list_events(
    session: Session, *, flt: AuditFilter, after_seq: int = 0, limit: int = 100
) -> list[AuditEvent]:
    """Events matching the filter in chain order, starting after `after_seq`."""
    query = _filtered(select(AuditEvent), flt).where(AuditEvent.seq > after_seq)
    return list(session.scalars(query.order_by(AuditEvent.seq).limit(limit)))


def recent_events(
    session: Session, *, flt: AuditFilter, before_seq: int | None = None, limit: int = 100
) -> list[AuditEvent]:
    """Events matching the filter, newest first, starting before `before_seq`."""
    query = _filtered(select(AuditEvent), flt)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    return list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit)))


def iter_events(session: Session, *, flt: AuditFilter) -> Iterator[AuditEvent]:
    """Every matching event in chain order, read in batches."""
    after = 0
    while batch := list_events(session, flt=flt, after_seq=after, limit=_VERIFY_BATCH):
        yield from batch
        after = batch[-1].seq


def _as_record(event: AuditEvent) -> ChainRecord:
    return ChainRecord(
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor=event.actor,
        actor_user_id=event.actor_user_id,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        before=event.before,
        after=event.after,
        reason=event.reason,
        request_id=event.request_id,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def verify_chain(session: Session) -> ChainReport:
    """Recompute the whole chain and report the first event that breaks it."""
    head = session.execute(
        select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == HEAD_ID)
    ).one_or_none()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    records = (_as_record(e) for e in iter_events(session, flt=AuditFilter()))
    return find_break(records, head_seq=head_seq, head_hash=head_hash)


def hash_at(session: Session, *, seq: int) -> str | None:
    """The hash of event `seq` (the genesis hash for 0), or None if there is none."""
    if seq == 0:
        return GENESIS_HASH
    return session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))
