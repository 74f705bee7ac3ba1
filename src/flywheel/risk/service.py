"""Scoring changes for the change domain: the active learned model, or the rules without one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.batch_reads import remember
from flywheel.risk.features import ALIASES, METRICS
from flywheel.risk.models import RiskModel
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


_models_by_version: dict[str, Any] = {}


def _model_in_service(session: Session) -> Any | None:
    """The active model, its blob read and unpickled only the first time a version is seen."""
    version = remember(session, "risk.active_version", lambda: _active_version(session))
    if version is None:
        return None
    if version not in _models_by_version:
        _models_by_version[version] = active_model(session)
    return _models_by_version[version]


def _active_version(session: Session) -> str | None:
    return session.scalar(select(RiskModel.version).where(RiskModel.status == "active"))


def score_metrics(session: Session, *, metrics: Mapping[str, float]) -> RiskAssessment | None:
    """The active model's score for a change's code metrics, or None without a model."""
    model = _model_in_service(session)
    if model is None or not KAMEI_METRICS.intersection(metrics):
        return None
    assessment: RiskAssessment = model.score(dict(metrics)).as_assessment()
    return assessment


def assess_change(session: Session, *, facts: ChangeFacts) -> RiskAssessment:
    """The risk of a change: the learned model on its code metrics, else transparent rules."""
    learned = score_metrics(session, metrics=facts.code_metrics)
    return learned if learned is not None else score_change(facts)
