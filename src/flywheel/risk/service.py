"""Scoring changes for the change domain; the learned model plugs in here."""

from __future__ import annotations

from sqlalchemy.orm import Session

from flywheel.risk.rules import ChangeFacts, RiskAssessment, score_change

__all__ = ["ChangeFacts", "RiskAssessment", "assess_change"]


def assess_change(session: Session, *, facts: ChangeFacts) -> RiskAssessment:
    """The risk of a change (rule-based until a trained model is active)."""
    del session  # the learned model will read its active version from the database
    return score_change(facts)
