"""The rule-based change risk score: the fallback when no learned model is trained (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MODEL_VERSION = "rules-1"
LEVELS = (("low", 0.25), ("medium", 0.5), ("high", 0.75), ("very_high", 1.01))


@dataclass(frozen=True)
class ChangeFacts:
    """What is known about a change when it is scored; any fact may be missing."""

    change_type: str
    lines_added: int | None = None
    lines_deleted: int | None = None
    files: int | None = None
    commits: int = 0
    service_criticality: int | None = None
    tenants_affected: int | None = None
    recent_failure_rate: float | None = None
    open_incidents: int | None = None
    code_metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RiskAssessment:
    """A risk score in [0, 1], its level, and what drove it."""

    score: float
    level: str
    explanation: list[dict[str, object]]
    model_version: str


def level_of(score: float) -> str:
    """The risk level a score falls in."""
    return next(name for name, upper in LEVELS if score < upper)


def _contributions(facts: ChangeFacts) -> list[tuple[str, float, str]]:
    churn = (facts.lines_added or 0) + (facts.lines_deleted or 0)
    parts: list[tuple[str, float, str]] = []
    if churn:
        parts.append(("churn", min(0.35, 0.05 * math.log2(1 + churn / 10)), f"{churn} lines"))
    if facts.files:
        parts.append(
            ("files", min(0.15, 0.03 * math.log2(1 + facts.files)), f"{facts.files} files")
        )
    if facts.service_criticality is not None:
        weight = {1: 0.2, 2: 0.12, 3: 0.05, 4: 0.0}.get(facts.service_criticality, 0.05)
        parts.append(("criticality", weight, f"service criticality {facts.service_criticality}"))
    if facts.tenants_affected:
        weight = min(0.15, 0.02 * math.log10(1 + facts.tenants_affected))
        parts.append(("blast_radius", weight, f"{facts.tenants_affected} tenants"))
    if facts.recent_failure_rate:
        parts.append(
            ("failure_history", min(0.2, facts.recent_failure_rate / 2), "recent failures")
        )
    if facts.open_incidents:
        parts.append(("open_incidents", 0.1, f"{facts.open_incidents} open incidents"))
    if facts.change_type == "emergency":
        parts.append(("emergency", 0.1, "emergency change"))
    return parts


def score_change(facts: ChangeFacts) -> RiskAssessment:
    """Score a change from simple, explainable rules."""
    parts = _contributions(facts)
    base = 0.05
    score = round(min(1.0, base + sum(w for _, w, _ in parts)), 4)
    explanation: list[dict[str, object]] = [
        {"factor": name, "contribution": round(weight, 4), "detail": detail}
        for name, weight, detail in sorted(parts, key=lambda p: -p[1])
    ]
    return RiskAssessment(score, level_of(score), explanation, MODEL_VERSION)
