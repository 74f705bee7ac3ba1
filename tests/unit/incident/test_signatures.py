"""Webhook signatures: HMAC over timestamp and body, fresh, used once."""

from __future__ import annotations

import pytest

from flywheel.errors import Unauthenticated
from flywheel.incident.signatures import ReplayGuard, sign, verify


def test_a_signature_verifies_once_within_the_window() -> None:
    guard = ReplayGuard()
    header = sign("s3cret", b"{}", 1_000)
    verify("s3cret", b"{}", "1000", header, now=1_100, guard=guard)
    with pytest.raises(Unauthenticated, match="replay"):
        verify("s3cret", b"{}", "1000", header, now=1_101, guard=guard)


@pytest.mark.parametrize(
    ("timestamp", "signature", "message"),
    [
        (None, "sha256=00", "requires signed requests"),
        ("soon", "sha256=00", "Unix seconds"),
        ("1", sign("s3cret", b"{}", 1), "stale"),
        ("1000", sign("other", b"{}", 1000), "does not match"),
    ],
)
def test_bad_signatures_say_why(timestamp: str | None, signature: str, message: str) -> None:
    with pytest.raises(Unauthenticated, match=message):
        verify("s3cret", b"{}", timestamp, signature, now=1_000, guard=ReplayGuard())
