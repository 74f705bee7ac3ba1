"""Change decisions and risk explanations in sentences people read (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LEVEL_WORDS = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "very_high": "very high",
}

OUTCOME_WORDS = {
    "auto_approve": "approved automatically",
    "approve": "held for approval",
    "cab": "held for the change advisory board (CAB)",
    "reject": "rejected",
}


@dataclass(frozen=True)
class Factor:
    """One reason for a risk score, as a sentence."""

    name: str
    sentence: str
    effect: str  # "raises", "lowers" or "none"
    weight: float


def risk_factors(explanation: dict[str, Any] | None) -> list[Factor]:
    """The stored explanation's factors, strongest first, each as a sentence."""
    factors = (explanation or {}).get("factors") or []
    found = []
    for item in factors:
        if not isinstance(item, dict):
            continue
        weight = float(item.get("contribution") or 0.0)
        effect = "raises" if weight > 0 else "lowers" if weight < 0 else "none"
        detail = str(item.get("detail") or item.get("factor") or "")
        name = str(item.get("factor") or "")
        verb = {"raises": "raises the risk", "lowers": "lowers the risk", "none": "no effect"}
        found.append(Factor(name, f"{detail}: {verb[effect]}", effect, weight))
    return sorted(found, key=lambda f: -abs(f.weight))


def risk_summary(score: float | None, level: str | None, factors: list[Factor]) -> str:
    """One sentence: how risky, and mainly why."""
    if score is None:
        return "This change has not been scored."
    words = LEVEL_WORDS.get(level or "", level or "unknown")
    sentence = f"Risk {score:.2f} ({words})."
    raising = [f.sentence.split(":")[0] for f in factors if f.effect == "raises"][:2]
    if raising:
        sentence += " Mainly because of " + " and ".join(raising) + "."
    return sentence


def approvals_needed(decision: dict[str, Any]) -> list[str]:
    """What approvals the decision asks for, e.g. '2 of role:change_manager'."""
    return [
        f"{int(item.get('count', 1))} of {' or '.join(item.get('by', []))}"
        for item in decision.get("approvals") or []
    ]


def decision_sentence(decision: dict[str, Any] | None) -> str:
    """Which rule of which policy decided, and what it decided."""
    if not decision:
        return "No decision has been recorded."
    outcome = OUTCOME_WORDS.get(str(decision.get("outcome")), str(decision.get("outcome")))
    decided_by = decision.get("decided_by") or "default"
    rule = "the policy's default" if decided_by == "default" else f"rule '{decided_by}'"
    policy = decision.get("policy") or {}
    scope = policy.get("scope", "?")
    version = policy.get("version", 0)
    source = "the built-in policy" if version == 0 else f"policy '{scope}' version {version}"
    sentence = f"{outcome[:1].upper()}{outcome[1:]} by {rule} of {source}."
    needed = approvals_needed(decision)
    if needed:
        sentence += " Needs " + "; ".join(needed) + "."
    if decision.get("reject_reason"):
        sentence += f" Reason: {decision['reject_reason']}."
    return sentence


def conflict_sentence(conflict: dict[str, Any]) -> str:
    """What another change does that collides with this one (follows the other's number)."""
    ci, other_ci = conflict.get("ci"), conflict.get("other_ci")
    if conflict.get("kind") == "same_ci" or not other_ci or other_ci == ci:
        return f"also changes {ci} at the same time"
    if conflict.get("direction") == "depended_on_by":
        return f"changes {other_ci}, which depends on {ci}, at the same time"
    return f"changes {other_ci}, which {ci} depends on, at the same time"
