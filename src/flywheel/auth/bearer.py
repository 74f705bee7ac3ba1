"""Bearer tokens to actors: one token, or all the tokens of a batch of requests at once.

Read with one Core query whatever the number of tokens (tokens with their users, roles and
team memberships), so a batch of requests pays one round trip. Nothing is
remembered between calls unless the token cache is switched on (`token_cache`): a revoked
token fails at the next lookup, in every process.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import String, Table, bindparam, cast, func, select
from sqlalchemy.orm import Session

from flywheel.auth.actor import Actor
from flywheel.auth.models import ApiToken, TeamMember, User, UserRole
from flywheel.auth.roles import Role
from flywheel.auth.token_cache import token_cache
from flywheel.auth.tokens import hash_token
from flywheel.db import as_utc, utcnow
from flywheel.errors import Unauthenticated


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


_TOKENS, _USERS = _table(ApiToken), _table(User)
_ROLES, _MEMBERS = _table(UserRole), _table(TeamMember)
SEPARATOR = " "  # in neither a role name nor a team id
_ROLES_OF_USER = (
    select(func.aggregate_strings(_ROLES.c.role, SEPARATOR))
    .where(_ROLES.c.user_id == _TOKENS.c.user_id)
    .scalar_subquery()
)
_TEAMS_OF_USER = (
    select(func.aggregate_strings(cast(_MEMBERS.c.team_id, String), SEPARATOR))
    .where(_MEMBERS.c.user_id == _TOKENS.c.user_id)
    .scalar_subquery()
)
_TOKENS_BY_HASH = (
    select(
        _TOKENS.c.id,
        _TOKENS.c.token_hash,
        _TOKENS.c.user_id,
        _TOKENS.c.expires_at,
        _TOKENS.c.revoked_at,
        _USERS.c.username,
        _USERS.c.is_active,
        _ROLES_OF_USER.label("roles"),
        _TEAMS_OF_USER.label("teams"),
    )
    .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
    .where(_TOKENS.c.token_hash.in_(bindparam("hashes", expanding=True)))
)


def authenticate_tokens(
    session: Session, secrets: Collection[str]
) -> dict[str, Actor | Unauthenticated]:
    """For each secret, the actor it stands for, or the Unauthenticated error saying why."""
    hashes = {hash_token(secret): secret for secret in secrets}
    if not hashes:
        return {}
    found_rows = session.connection().execute(_TOKENS_BY_HASH, {"hashes": list(hashes)})
    rows = {r.token_hash: r for r in found_rows}
    now = utcnow()
    found: dict[str, Actor | Unauthenticated] = {}
    for hashed, secret in hashes.items():
        row = rows.get(hashed)
        found[secret] = _verdict(row, now) if row is not None else _unknown()
    return found


def _unknown() -> Unauthenticated:
    return Unauthenticated("unknown API token")


def _verdict(row: Any, now: datetime) -> Actor | Unauthenticated:
    if row.revoked_at is not None:
        return Unauthenticated("this API token was revoked")
    expires_at = as_utc(row.expires_at)
    if expires_at is not None and expires_at <= now:
        return Unauthenticated("this API token has expired")
    if not row.is_active:
        return Unauthenticated(f"user '{row.username}' is deactivated")
    return Actor(
        name=row.username,
        user_id=row.user_id,
        roles=frozenset(Role(r) for r in (row.roles or "").split()),
        team_ids=frozenset(int(t) for t in (row.teams or "").split()),
        token_id=row.id,
    )


def authenticate_token(session: Session, *, secret: str) -> Actor:
    """The actor a bearer token stands for, or Unauthenticated saying why.

    With the token cache on, answers are kept for a few seconds; any write to the auth
    tables in this process empties it, so only other processes may lag (off by default).
    """
    url = session.get_bind().engine.url
    cached = cached_token_actor(url, secret=secret)
    if cached is not None:
        return cached
    generation = token_cache.generation
    verdict = authenticate_tokens(session, [secret])[secret]
    if isinstance(verdict, Unauthenticated):
        raise verdict
    expires_at = _expiry(session, verdict)
    token_cache.put((url, hash_token(secret)), (verdict, expires_at), generation=generation)
    return verdict


def _expiry(session: Session, actor: Actor) -> datetime | None:
    if token_cache.seconds <= 0:
        return None  # nothing will be cached
    query = select(_TOKENS.c.expires_at).where(_TOKENS.c.id == actor.token_id)
    return as_utc(session.connection().execute(query).scalar())


def cached_token_actor(database_url: Any, *, secret: str) -> Actor | None:
    """The actor of a token checked in the last few seconds (None: look it up)."""
    cached: tuple[Actor, datetime | None] | None = token_cache.get(
        (database_url, hash_token(secret))
    )
    if cached is None:
        return None
    actor, expires_at = cached
    if expires_at is not None and expires_at <= utcnow():
        raise Unauthenticated("this API token has expired")
    return actor
