"""API routes of the audit domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from flywheel.audit import service
from flywheel.audit.schemas import AuditEventOut, ChainStatus
from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.db import as_utc
from flywheel.http.deps import DbSession, cursor_to_id, require
from flywheel.schemas import Page

router = APIRouter(prefix="/audit", tags=["audit"])

Reader = Annotated[Actor, Depends(require(Permission.AUDIT_READ))]


@router.get("", response_model=Page[AuditEventOut])
def list_audit_events(
    session: DbSession,
    _: Reader,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    request_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[AuditEventOut]:
    """Audit events in chain order, filtered; follow next_cursor for more."""
    flt = service.AuditFilter(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        request_id=request_id,
        since=as_utc(since),
        until=as_utc(until),
    )
    events = service.list_events(session, flt=flt, after_seq=cursor_to_id(cursor), limit=limit)
    next_cursor = str(events[-1].seq) if len(events) == limit else None
    return Page(items=[AuditEventOut.model_validate(e) for e in events], next_cursor=next_cursor)


@router.get("/verify", response_model=ChainStatus)
def verify_audit_chain(session: DbSession, _: Reader) -> ChainStatus:
    """Recompute the hash chain and name the first event that breaks it, if any."""
    report = service.verify_chain(session)
    brk = report.first_break
    return ChainStatus(
        intact=report.intact,
        events_checked=report.events_checked,
        head_seq=report.head_seq,
        first_bad_seq=brk.seq if brk else None,
        problem=brk.problem if brk else None,
    )
