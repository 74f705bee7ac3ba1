"""Scoring changes for the change domain: the active learned model, or the rules without one."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from flywheel.risk.features import ALIASES, METRICS
from flywheel.risk.registry import active_model, list_models, promote, train_and_store
from flywheel.risk.rules import ChangeFacts, RiskAssessment, score_change

__all__ = [
    "ChangeFacts",
    "RiskAssessment",
    "active_model",
    "assess_change",
    "list_models",
    "promote",
    "score_metrics",
    "train_and_store",
]

KAMEI_METRICS = frozenset(METRICS) | frozenset(ALIASES)


def score_metrics(session: Session, *, metrics: Mapping[str, float]) -> RiskAssessment | None:
    """The active model's score for a change's code metrics, or None without a model."""
    model = active_model(session)
    if model is None or not KAMEI_METRICS.intersection(metrics):
        return None
    assessment: RiskAssessment = model.score(dict(metrics)).as_assessment()
    return assessment


def assess_change(session: Session, *, facts: ChangeFacts) -> RiskAssessment:
    """The risk of a change: the learned model on its code metrics, else transparent rules."""
    learned = score_metrics(session, metrics=facts.code_metrics)
    return learned if learned is not None else score_change(facts)
