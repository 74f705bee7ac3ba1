"""Authenticated API tokens cached for a few seconds, emptied by any write to the auth tables.

Every request authenticates its bearer token; the cache saves the token and user read. A
write to users, their roles or team memberships, or a token's revocation or expiry, empties
it in this process at once (SQLAlchemy events on every engine). Other processes of the same
installation would notice only when the entry expires, so the cache is off unless
FLYWHEEL_TOKEN_CACHE_SECONDS is set (docs/security.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.sql.dml import Insert, UpdateBase

CACHE_SECONDS = 5.0
CACHE_SIZE = 10_000
AUTH_TABLES = frozenset({"users", "user_roles", "team_members", "api_tokens"})
_CHANGED = "flywheel_auth_changed"


class TokenCache:
    """Values by key for `seconds`; `forget` drops all and bumps a generation.

    A lookup that began before a `forget` does not put its (possibly stale) answer back.
    """

    def __init__(
        self, seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self.generation = 0

    def get(self, key: Hashable) -> Any:
        """The cached value if still fresh, else None."""
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] >= self.seconds:
            return None
        return entry[1]

    def put(self, key: Hashable, value: Any, *, generation: int) -> None:
        """Remember a value read while `generation` was current (dropped if it is not now)."""
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= CACHE_SIZE:
                self._entries.clear()
            self._entries[key] = (self._clock(), value)

    def forget(self) -> None:
        """Drop every entry."""
        with self._lock:
            self.generation += 1
            self._entries.clear()


token_cache = TokenCache()


@event.listens_for(Engine, "after_execute")
def _forget_on_auth_write(conn: Any, statement: Any, *_: Any) -> None:
    """A write to who may act (not a new token) empties the cache, and again at commit."""
    if not isinstance(statement, UpdateBase):
        return
    table = getattr(statement.table, "name", None)
    if table in AUTH_TABLES and not (table == "api_tokens" and isinstance(statement, Insert)):
        conn.info[_CHANGED] = True
        token_cache.forget()


@event.listens_for(Engine, "commit")
def _forget_at_commit(conn: Any) -> None:
    # A lookup between the write and its commit read the old rows: forget it too.
    if conn.info.pop(_CHANGED, False):
        token_cache.forget()


@event.listens_for(Engine, "rollback")
def _clear_flag(conn: Any) -> None:
    conn.info.pop(_CHANGED, None)
