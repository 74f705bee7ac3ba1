"""FastAPI dependencies: database sessions, the caller, permission checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.auth.policy import require_permission
from flywheel.auth.roles import Permission
from flywheel.db import Database
from flywheel.errors import InvalidInput, Unauthenticated
from flywheel.http import idempotency

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer fw_…`")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_database(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


def get_session(request: Request) -> Iterator[Session]:
    """A session for this request; a write holds its Idempotency-Key in its transaction."""
    db = get_database(request)
    write = request.method not in _READ_METHODS
    with db.session(write=write) as session:
        if write:
            idempotency.watch(request.scope.get("state", {}), session)
        yield session


DbSession = Annotated[Session, Depends(get_session)]


def get_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller named by the bearer token, or 401 (for callers outside a dependency).

    Looked up on its own short read session: a write request must not take SQLite's
    write lock here, in one thread-pool hop, and hold it into the next.
    """
    secret = bearer_secret(credentials)
    actor = _look_up_token(get_database(request), secret)
    request.state.actor = actor
    return actor


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """get_actor as a dependency; a recently checked token is answered without a thread hop."""
    secret = bearer_secret(credentials)
    db = get_database(request)
    actor = auth_service.cached_token_actor(db.engine.url, secret=secret)
    if actor is None:
        actor = await run_in_threadpool(_look_up_token, db, secret)
    request.state.actor = actor
    return actor


def bearer_secret(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The bearer token sent, or Unauthenticated (401)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing API token: send 'Authorization: Bearer <token>'")
    return credentials.credentials


def _look_up_token(db: Database, secret: str) -> Actor:
    with db.session() as session:
        return auth_service.authenticate_token(session, secret=secret)


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require(permission: Permission) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency that lets the request through only with `permission`."""

    async def _check(actor: CurrentActor) -> Actor:  # pure: no thread-pool hop
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
