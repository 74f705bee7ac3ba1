"""The automatic-rollback policy applied to a top suspect (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flywheel.incident.autorollback_policy import RollbackPolicy, judge
from flywheel.incident.suspects import Candidate, Suspect

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = RollbackPolicy(
    enabled=True,
    min_score=0.6,
    window_minutes=30,
    environments=("production",),
    max_distance=1,
    origin="settings",
)


def _suspect(
    *,
    state: str = "succeeded",
    finished_ago: float | None = 5,
    distance: int = 0,
    score: float = 0.8,
) -> Suspect:
    finished = NOW - timedelta(minutes=finished_ago) if finished_ago is not None else None
    candidate = Candidate(
        deployment_id=12,
        change_id=None,
        service="shop",
        version="v2",
        state=state,
        started_at=NOW - timedelta(minutes=40),
        finished_at=finished,
        distance=distance,
        risk_score=None,
    )
    return Suspect(candidate, score, ["on the failing service"])


@pytest.mark.parametrize(
    ("suspect", "environment", "reason"),
    [
        (_suspect(), "production", None),
        (_suspect(state="running", finished_ago=None), "production", None),
        (_suspect(distance=1), "production", None),
        (_suspect(), "staging", "it deployed to staging, not production"),
        (_suspect(distance=2), "production", "shop is 2 step(s) away, the policy allows 1"),
        (_suspect(finished_ago=45), "production", "finished 45 min ago, outside the 30 min"),
        (_suspect(score=0.55), "production", "its suspect score 0.55 is below 0.60"),
        (_suspect(state="rolled_back"), "production", "it is already rolled_back"),
    ],
)
def test_the_policy_allows_only_what_it_covers(
    suspect: Suspect, environment: str, reason: str | None
) -> None:
    verdict = judge(POLICY, suspect, environment=environment, now=NOW)
    assert verdict.allowed is (reason is None)
    if reason is not None:
        assert reason in verdict.reason
    else:
        assert verdict.reason.startswith("suspect score 0.80")


def test_a_disabled_policy_says_so() -> None:
    off = RollbackPolicy(False, 0.6, 30, ("production",), 1, "settings")
    verdict = judge(off, _suspect(), environment="production", now=NOW)
    assert (verdict.allowed, verdict.reason) == (
        False,
        "automatic rollback is off for this service (settings)",
    )
    assert off.describe() == "automatic rollback off (settings)"


def test_the_policy_describes_itself_for_the_timeline() -> None:
    assert POLICY.describe() == (
        "production deployment of the failing service or a CI up to 1 step(s) away, finished "
        "within 30 min or still running, suspect score ≥ 0.60 (settings)"
    )
