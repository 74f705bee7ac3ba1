"""Ranking suspect deployments: nearer, more recent and riskier first (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flywheel.incident.suspects import Candidate, rank

DETECTED = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _c(
    dep_id: int,
    minutes_before: float | None,
    *,
    distance: int = 0,
    risk: float = 0.3,
    state: str = "succeeded",
    running: bool = False,
) -> Candidate:
    at = None if minutes_before is None else DETECTED - timedelta(minutes=minutes_before)
    return Candidate(
        dep_id, dep_id, "shop", f"v{dep_id}", state, at, None if running else at, distance, risk
    )


def test_the_most_recent_deployment_of_the_failing_service_ranks_first() -> None:
    ranked = rank([_c(1, 300), _c(2, 5), _c(3, 60)], detected_at=DETECTED)
    assert [s.candidate.deployment_id for s in ranked] == [2, 3, 1]
    assert "deployed 5 min before detection" in ranked[0].reasons


def test_distance_and_risk_and_a_run_in_progress_weigh_in() -> None:
    near = _c(1, 20, distance=0, risk=0.1)
    far_risky = _c(2, 20, distance=3, risk=0.9)
    assert [s.candidate.deployment_id for s in rank([far_risky, near], detected_at=DETECTED)] == [
        1,
        2,
    ]
    running = _c(3, 40, running=True)
    ranked = rank([_c(4, 40), running], detected_at=DETECTED)
    assert ranked[0].candidate.deployment_id == 3
    assert "its deployment is still in progress" in ranked[0].reasons


def test_deployments_after_detection_or_too_old_are_not_suspects() -> None:
    assert rank([_c(1, -5), _c(2, 60 * 25)], detected_at=DETECTED) == []


def test_a_run_already_rolled_back_is_less_suspect() -> None:
    ranked = rank([_c(1, 10, state="rolled_back"), _c(2, 10)], detected_at=DETECTED)
    assert [s.candidate.deployment_id for s in ranked] == [2, 1]
    assert "already rolled_back" in ranked[1].reasons
