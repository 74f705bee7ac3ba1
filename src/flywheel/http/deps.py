"""FastAPI dependencies: database sessions, the caller, permission checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.auth.policy import require_permission
from flywheel.auth.roles import Permission
from flywheel.db import Database
from flywheel.errors import InvalidInput, Unauthenticated

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer fw_…`")


def get_database(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


def get_session(request: Request) -> Iterator[Session]:
    """A session for this request; write methods take the write lock up front on SQLite."""
    db = get_database(request)
    with db.session(write=request.method not in _READ_METHODS) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


def get_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller named by the bearer token, or 401.

    Looked up on its own short read session: a write request must not take SQLite's
    write lock here, in one thread-pool hop, and hold it into the next.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing API token: send 'Authorization: Bearer <token>'")
    with get_database(request).session() as session:
        actor = auth_service.authenticate_token(session, secret=credentials.credentials)
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


def require(permission: Permission) -> Callable[[Actor], Actor]:
    """A dependency that lets the request through only with `permission`."""

    def _check(actor: CurrentActor) -> Actor:
        require_permission(actor, permission)
        return actor

    _check.required_permission = permission  # type: ignore[attr-defined]
    return _check


def cursor_to_id(cursor: str | None) -> int:
    """Decode a listing cursor (the last id seen)."""
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise InvalidInput(f"invalid cursor '{cursor}'")
    return int(cursor)
