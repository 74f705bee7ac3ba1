"""Risk explanations, decisions and conflicts in words."""

from __future__ import annotations

from flywheel.web import words


def test_factors_are_sentences_strongest_first() -> None:
    explanation = {
        "factors": [
            {"factor": "files", "contribution": 0.03, "detail": "4 files"},
            {"factor": "la", "contribution": -0.2, "detail": "3 lines added"},
            {"factor": "churn", "contribution": 0.35, "detail": "15000 lines"},
        ]
    }
    found = words.risk_factors(explanation)
    assert [f.name for f in found] == ["churn", "la", "files"]
    assert found[0].sentence == "15000 lines: raises the risk"
    assert found[1].effect == "lowers"
    summary = words.risk_summary(0.81, "very_high", found)
    assert summary == "Risk 0.81 (very high). Mainly because of 15000 lines and 4 files."
    assert words.risk_summary(None, None, []) == "This change has not been scored."
    assert words.risk_factors(None) == []


def test_the_decision_names_rule_policy_and_approvals() -> None:
    decision = {
        "outcome": "cab",
        "decided_by": "high-risk",
        "policy": {"scope": "checkout", "version": 3},
        "approvals": [{"by": ["role:change_manager"], "count": 2}],
    }
    assert words.decision_sentence(decision) == (
        "Held for the change advisory board (CAB) by rule 'high-risk' of policy 'checkout' "
        "version 3. Needs 2 of role:change_manager."
    )
    built_in = {"outcome": "reject", "decided_by": "default", "reject_reason": "frozen"}
    assert words.decision_sentence(built_in) == (
        "Rejected by the policy's default of the built-in policy. Reason: frozen."
    )
    assert words.decision_sentence(None) == "No decision has been recorded."


def test_conflicts_say_how_the_cis_relate() -> None:
    same = {"change": "CHG0000002", "kind": "same_ci", "ci": "db1", "other_ci": "db1"}
    up = {"kind": "dependency", "ci": "app", "other_ci": "db1", "direction": "depends_on"}
    down = {"kind": "dependency", "ci": "db1", "other_ci": "app", "direction": "depended_on_by"}
    assert words.conflict_sentence(same) == "also changes db1 at the same time"
    assert words.conflict_sentence(up) == "changes db1, which app depends on, at the same time"
    assert words.conflict_sentence(down) == "changes app, which depends on db1, at the same time"
