"""Judging a batch from load-balancer counters: table-driven, no I/O."""

from __future__ import annotations

import pytest

from flywheel.deploy.analysis import Traffic, judge_batch, traffic_between
from flywheel.deploy.drivers.base import ServerStats


def _stats(server: str, ok: int, failed: int = 0, refused: int = 0) -> ServerStats:
    return ServerStats(server, "UP", 0, ok + failed, ok, failed, refused, 0)


def test_traffic_counts_only_what_happened_between_the_samples() -> None:
    before = {"s1": _stats("s1", 100, 1), "s2": _stats("s2", 50)}
    after = {"s1": _stats("s1", 190, 11, refused=2), "s2": _stats("s2", 80)}
    assert traffic_between(before, after, ["s1"]) == Traffic(requests=102, errors=12)
    assert traffic_between(before, after, ["s1", "s2"]) == Traffic(requests=132, errors=12)


def test_a_counter_reset_or_a_missing_server_counts_nothing() -> None:
    before = {"s1": _stats("s1", 500)}
    after = {"s1": _stats("s1", 10), "s2": _stats("s2", 40)}
    assert traffic_between(before, after, ["s1", "s2", "s3"]) == Traffic(0, 0)


@pytest.mark.parametrize(
    ("new", "old", "unhealthy", "healthy", "words"),
    [
        (Traffic(200, 0), Traffic(400, 0), [], True, "0.00% errors"),
        (Traffic(200, 40), Traffic(400, 0), [], False, "failed 40 of 200"),
        (Traffic(200, 3), Traffic(400, 0), [], True, "1.50% errors"),  # under 2 %
        # The old version fails as often: the release is not the cause.
        (Traffic(200, 40), Traffic(400, 80), [], True, "20.00% errors"),
        (Traffic(5, 5), Traffic(400, 0), [], True, "too little traffic"),
        (Traffic(200, 0), None, ["web-1"], False, "health check failing on web-1"),
        (Traffic(200, 10), None, [], False, "failed 10 of 200"),
    ],
)
def test_verdicts(
    new: Traffic, old: Traffic | None, unhealthy: list[str], healthy: bool, words: str
) -> None:
    verdict = judge_batch(new, old, unhealthy=unhealthy, max_error_rate=0.02, min_requests=20)
    assert verdict.healthy is healthy
    assert words in verdict.reason
    assert verdict.evidence["new"]["requests"] == new.requests
