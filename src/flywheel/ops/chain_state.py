"""The audit chain of a database, as a backup or restore reports it."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from flywheel.audit import service as audit_service
from flywheel.ops.backup import ChainState


def chain_state(conn: Connection) -> ChainState:
    """Verify the chain on this connection (in its transaction) and describe its head."""
    with Session(bind=conn) as session:
        report = audit_service.verify_chain(session)
        head_hash = audit_service.hash_at(session, seq=report.head_seq) or ""
    brk = report.first_break
    return ChainState(
        events=report.events_checked,
        head_seq=report.head_seq,
        head_hash=head_hash,
        intact=report.intact,
        first_break=str(brk) if brk else None,
    )
