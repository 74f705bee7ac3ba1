"""Per-caller rate limits: a token bucket per API token, console session or client address.

Limits are per process (each API process keeps its own buckets), which bounds abuse without a
shared store; behind several processes the effective limit is the per-process one times the
number of processes, as `docs/security.md` says. Health checks and static assets are exempt.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from flywheel.http.errors import error_response

EXEMPT_PREFIXES = ("/healthz", "/readyz", "/static/")
MAX_TRACKED = 50_000  # buckets kept; the least recently used go first


@dataclass(frozen=True)
class Limit:
    """A sustained rate and the burst allowed on top of it."""

    per_second: float
    burst: int


class TokenBucket:
    """A bucket that refills at `limit.per_second` up to `limit.burst`."""

    __slots__ = ("_level", "_stamp", "limit")

    def __init__(self, limit: Limit, now: float) -> None:
        self.limit = limit
        self._level = float(limit.burst)
        self._stamp = now

    def take(self, now: float) -> float:
        """0 when a request may go now; otherwise the seconds until one may."""
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._level = min(float(self.limit.burst), self._level + elapsed * self.limit.per_second)
        if self._level >= 1.0:
            self._level -= 1.0
            return 0.0
        return (1.0 - self._level) / self.limit.per_second


class RateLimiter:
    """Buckets by caller key, bounded in number."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def wait_for(self, key: str, limit: Limit) -> float:
        """Seconds the caller must wait (0 to go ahead), spending one request if allowed."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(limit, now)
                if len(self._buckets) > MAX_TRACKED:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            return bucket.take(now)


def caller_key(scope: Scope) -> tuple[str, bool]:
    """Who is calling: a token or console session (True) or only an address (False)."""
    auth = cookies = b""
    for name, value in scope.get("headers") or ():  # the last one wins, as in a dict
        if name == b"authorization":
            auth = value
        elif name == b"cookie":
            cookies = value
    if auth[:7].lower() == b"bearer " and len(auth) > 7:
        return "token:" + hashlib.sha256(auth[7:].strip()).hexdigest()[:24], True
    query = scope.get("query_string", b"")
    for part in query.split(b"&"):
        if part.startswith(b"token=") and len(part) > 6:
            return "token:" + hashlib.sha256(part[6:]).hexdigest()[:24], True
    for cookie in cookies.split(b";"):
        name, _, value = cookie.strip().partition(b"=")
        if name == b"flywheel_session" and value:
            return "session:" + hashlib.sha256(value).hexdigest()[:24], True
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}", False


class RateLimitMiddleware:
    """Answer 429 with Retry-After when a caller goes over its limit."""

    def __init__(
        self, app: ASGIApp, *, identified: Limit, anonymous: Limit, enabled: bool = True
    ) -> None:
        self.app = app
        self.identified = identified
        self.anonymous = anonymous
        self.enabled = enabled
        self.limiter = RateLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http" or _exempt(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        key, identified = caller_key(scope)
        wait = self.limiter.wait_for(key, self.identified if identified else self.anonymous)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        seconds = max(1, math.ceil(wait))
        message = f"too many requests: try again in {seconds} s"
        response = error_response(
            429, "rate_limited", message, headers={"Retry-After": str(seconds)}
        )
        await response(scope, receive, send)


def _exempt(path: str) -> bool:
    return path.startswith(EXEMPT_PREFIXES)
