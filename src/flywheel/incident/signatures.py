"""HMAC signatures on incoming webhooks: X-Flywheel-Timestamp and X-Flywheel-Signature.

The sender computes `sha256=` + hex(HMAC-SHA256(secret, f"{timestamp}." + body)) with the
integration's signing secret and the current Unix time. A signature is accepted once, within
five minutes of its timestamp: a replayed or stale request is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict

from flywheel.errors import Unauthenticated

TOLERANCE_S = 300
TIMESTAMP_HEADER = "X-Flywheel-Timestamp"
SIGNATURE_HEADER = "X-Flywheel-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class ReplayGuard:
    """Signatures seen in the tolerance window (per process), so each is accepted once."""

    def __init__(self, limit: int = 100_000) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def first_time(self, signature: str, now: float) -> bool:
        """Record the signature; False when it was already used."""
        with self._lock:
            while self._seen and (
                next(iter(self._seen.values())) < now - 2 * TOLERANCE_S
                or len(self._seen) > self._limit
            ):
                self._seen.popitem(last=False)
            if signature in self._seen:
                return False
            self._seen[signature] = now
            return True


GUARD = ReplayGuard()


def verify(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float | None = None,
    guard: ReplayGuard = GUARD,
) -> None:
    """Unauthenticated, saying why, unless the body is signed with the secret, fresh and new."""
    if not timestamp or not signature:
        raise Unauthenticated(
            f"this integration requires signed requests: send {TIMESTAMP_HEADER} and "
            f"{SIGNATURE_HEADER}"
        )
    clock = time.time() if now is None else now
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise Unauthenticated(f"{TIMESTAMP_HEADER} must be Unix seconds") from exc
    if abs(clock - sent) > TOLERANCE_S:
        raise Unauthenticated(f"the signature is stale: its timestamp is over {TOLERANCE_S} s off")
    if not hmac.compare_digest(sign(secret, body, sent), signature):
        raise Unauthenticated("the webhook signature does not match the body")
    if not guard.first_time(signature, clock):
        raise Unauthenticated("this signed request was already received (replay refused)")
