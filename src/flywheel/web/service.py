"""Console sign-in sessions: start one, find who it belongs to, end it (audited)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.db import utcnow
from flywheel.errors import Unauthenticated
from flywheel.web.models import ConsoleSession


@dataclass(frozen=True)
class SignedOut:
    """What is left of an ended session: the provider's ID token, to sign out there too."""

    id_token: str | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start_session(
    session: Session,
    *,
    actor: Actor,
    lifetime: timedelta,
    method: str,
    id_token: str | None = None,
) -> tuple[ConsoleSession, str]:
    """Open a session for a signed-in user; returns it with its key (kept only in the cookie)."""
    if actor.user_id is None:
        raise Unauthenticated("only a user can sign in to the console")
    now = utcnow()
    generation = auth_service.session_generation(session, user_id=actor.user_id)
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    session.execute(  # sessions a sign-out everywhere ended
        delete(ConsoleSession).where(
            ConsoleSession.user_id == actor.user_id, ConsoleSession.generation != generation
        )
    )
    key = secrets.token_urlsafe(32)
    row = ConsoleSession(
        key_hash=_hash(key),
        user_id=actor.user_id,
        token_id=actor.token_id,
        created_at=now,
        expires_at=now + lifetime,
        generation=generation,
        id_token=id_token,
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
    return auth_service.actor_by_id(
        session, user_id=row.user_id, token_id=row.token_id, generation=row.generation
    )


def end_session(session: Session, *, key: str, actor: Actor) -> SignedOut | None:
    """Sign out: forget the session (audited); None when it had already ended."""
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.key_hash == _hash(key)))
    if row is None:
        return None
    ended = SignedOut(id_token=row.id_token)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="console.sign_out",
        object_type="console_session",
        object_id=row.id,
    )
    return ended


def end_sessions_everywhere(session: Session, *, actor: Actor, username: str | None = None) -> int:
    """Sign a user out of every console session (auth decides who may); how many ended."""
    user = auth_service.end_sessions(session, actor=actor, username=username)
    ended = session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
    return int(getattr(ended, "rowcount", 0) or 0)


def open_sessions(session: Session, *, user_id: int) -> list[ConsoleSession]:
    """A user's console sessions that have not ended, newest first."""
    generation = auth_service.session_generation(session, user_id=user_id)
    query = select(ConsoleSession).where(
        ConsoleSession.user_id == user_id,
        ConsoleSession.generation == generation,
        ConsoleSession.expires_at > utcnow(),
    )
    return list(session.scalars(query.order_by(ConsoleSession.id.desc())))


def session_of(rows: list[ConsoleSession], key: str) -> ConsoleSession | None:
    """The row among `rows` that a session key opens."""
    wanted = _hash(key)
    return next((row for row in rows if row.key_hash == wanted), None)
