"""Token buckets and how callers are told apart."""

from __future__ import annotations

from flywheel.http.ratelimit import Limit, RateLimiter, caller_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_sustained_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limit = Limit(per_second=2.0, burst=3)
    assert [limiter.wait_for("a", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait_for("a", limit) == 0.5  # one request refills in 1/2 s
    clock.now += 0.5
    assert limiter.wait_for("a", limit) == 0.0
    assert limiter.wait_for("b", limit) == 0.0  # another caller has its own bucket


def test_refill_never_exceeds_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limit = Limit(per_second=10.0, burst=2)
    limiter.wait_for("a", limit)
    clock.now += 3600
    assert [limiter.wait_for("a", limit) for _ in range(3)][-1] > 0


def test_callers_are_keyed_by_token_session_or_address() -> None:
    def scope(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> dict[str, object]:
        return {"headers": headers, "query_string": query, "client": ("10.0.0.9", 5555)}

    by_token, identified = caller_key(scope([(b"authorization", b"Bearer fw_abc")]))
    assert by_token.startswith("token:") and identified and "fw_abc" not in by_token
    assert caller_key(scope([], b"x=1&token=fwi_q"))[0].startswith("token:")
    session = caller_key(scope([(b"cookie", b"a=b; flywheel_session=s1")]))
    assert session[0].startswith("session:") and session[1]
    assert caller_key(scope([])) == ("addr:10.0.0.9", False)
