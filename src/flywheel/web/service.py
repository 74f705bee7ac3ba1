"""Console sign-in sessions: start one, find who it belongs to, end it (audited)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.db import utcnow
from flywheel.errors import Unauthenticated
from flywheel.web.models import ConsoleSession


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start_session(
    session: Session, *, actor: Actor, lifetime: timedelta, method: str
) -> tuple[ConsoleSession, str]:
    """Open a session for a signed-in user; returns it with its key (kept only in the cookie)."""
    if actor.user_id is None:
        raise Unauthenticated("only a user can sign in to the console")
    now = utcnow()
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    key = secrets.token_urlsafe(32)
    row = ConsoleSession(
        key_hash=_hash(key),
        user_id=actor.user_id,
        token_id=actor.token_id,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="console.sign_in",
        object_type="console_session",
        object_id=row.id,
        after={"method": method, "expires_at": row.expires_at.isoformat()},
    )
    return row, key


def session_actor(session: Session, *, key: str) -> Actor:
    """Who a session key belongs to, or Unauthenticated when it ended or its user can't act."""
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.key_hash == _hash(key)))
    if row is None or row.expires_at <= utcnow():
        raise Unauthenticated("your console session ended: sign in again")
    return auth_service.actor_by_id(session, user_id=row.user_id, token_id=row.token_id)


def end_session(session: Session, *, key: str, actor: Actor) -> bool:
    """Sign out: forget the session (audited); False when it had already ended."""
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.key_hash == _hash(key)))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="console.sign_out",
        object_type="console_session",
        object_id=row.id,
    )
    return True
