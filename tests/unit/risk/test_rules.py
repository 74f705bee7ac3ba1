"""The rule-based risk score."""

from __future__ import annotations

import pytest

from flywheel.risk.rules import ChangeFacts, level_of, score_change


def test_a_tiny_change_on_a_minor_service_is_low_risk() -> None:
    risk = score_change(ChangeFacts("normal", lines_added=3, files=1, service_criticality=4))
    assert risk.level == "low"
    assert 0 < risk.score < 0.25


def test_more_churn_and_criticality_mean_more_risk() -> None:
    small = score_change(ChangeFacts("normal", lines_added=10, service_criticality=3))
    big = score_change(ChangeFacts("normal", lines_added=5000, files=80, service_criticality=1))
    assert big.score > small.score
    assert big.level in {"high", "very_high", "medium"}
    assert big.explanation[0]["factor"] == "churn"


def test_missing_facts_are_allowed() -> None:
    risk = score_change(ChangeFacts("standard"))
    assert risk.score == pytest.approx(0.05)
    assert risk.explanation == []


@pytest.mark.parametrize(
    ("score", "level"),
    [(0.0, "low"), (0.25, "medium"), (0.5, "high"), (0.75, "very_high"), (1.0, "very_high")],
)
def test_levels(score: float, level: str) -> None:
    assert level_of(score) == level
