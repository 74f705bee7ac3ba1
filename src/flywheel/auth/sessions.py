"""Sign out everywhere: a per-user generation that every console session must still match."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.auth.models import User
from flywheel.errors import Unauthenticated


def end_all_sessions(session: Session, *, actor: Actor, user: User, reason: str) -> None:
    """Refuse every console session the user opened so far (the version is left alone)."""
    session.flush()
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_generation=User.session_generation + 1)
        .execution_options(synchronize_session=False)
    )
    session.expire(user, ["session_generation"])
    audit.record(
        session,
        actor=actor,
        action="auth.sessions.revoke_all",
        object_type="user",
        object_id=user.username,
        after={"reason": reason, "session_generation": user.session_generation},
    )


def session_generation(session: Session, *, user_id: int) -> int:
    """The user's current session generation: a new console session is opened at it."""
    found = session.scalar(select(User.session_generation).where(User.id == user_id))
    if found is None:
        raise Unauthenticated("this user no longer exists")
    return found
