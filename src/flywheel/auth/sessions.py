"""Sign out everywhere: a per-user generation that every console session must still match."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.auth.models import SessionGeneration, User


def end_all_sessions(session: Session, *, actor: Actor, user: User, reason: str) -> int:
    """Refuse every console session the user opened so far (audited); the new generation."""
    session.flush()
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    bump = (
        insert(SessionGeneration)
        .values(user_id=user.id, generation=1)
        .on_conflict_do_update(
            index_elements=[SessionGeneration.user_id],
            set_={"generation": SessionGeneration.generation + 1},
        )
        .returning(SessionGeneration.generation)
    )
    generation = int(session.execute(bump).scalar_one())
    audit.record(
        session,
        actor=actor,
        action="auth.sessions.revoke_all",
        object_type="user",
        object_id=user.username,
        after={"reason": reason, "session_generation": generation},
    )
    return generation


def session_generation(session: Session, *, user_id: int) -> int:
    """The user's current session generation: a new console session is opened at it."""
    query = select(SessionGeneration.generation).where(SessionGeneration.user_id == user_id)
    return session.scalar(query) or 0
