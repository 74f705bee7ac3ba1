"""Test data, made through the product's own service functions."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

from sqlalchemy.orm import Session

from flywheel.auth import service as auth_service
from flywheel.auth.actor import system_actor
from flywheel.auth.models import Team, User
from flywheel.auth.roles import Role
from flywheel.auth.schemas import TeamCreate, UserCreate
from flywheel.db import Database

_serial = count(1)
SYSTEM = system_actor("tests")


@dataclass(frozen=True)
class Person:
    """A user with an API token, for calling the API as them."""

    username: str
    user_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization headers for this person."""
        return {"Authorization": f"Bearer {self.token}"}


def make_user(session: Session, *roles: Role, username: str | None = None) -> User:
    """A user with the given roles (developer when none given)."""
    name = username or f"user{next(_serial)}"
    data = UserCreate(username=name, roles=list(roles) or [Role.DEVELOPER], full_name=name.title())
    return auth_service.create_user(session, actor=SYSTEM, data=data)


def make_team(session: Session, key: str | None = None, members: list[str] | None = None) -> Team:
    """A team with the given members."""
    key = key or f"team{next(_serial)}"
    data = TeamCreate(key=key, name=key.title(), members=members or [])
    return auth_service.create_team(session, actor=SYSTEM, data=data)


def make_person(db: Database, *roles: Role, username: str | None = None) -> Person:
    """A committed user with a fresh API token."""
    with db.session(write=True) as session:
        user = make_user(session, *roles, username=username)
        _, secret = auth_service.create_token(
            session, actor=SYSTEM, name="tests", username=user.username
        )
        session.commit()
        return Person(user.username, user.id, secret)
