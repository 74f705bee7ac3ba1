"""Change policies as code: decide a change from its facts, and say which rule decided why."""

# How a policy is evaluated (the decisions the policy-as-code design leaves open):
#
# - Rules are evaluated strictly in order. A matching rule with `risk:` raises the running risk
#   level (never lowers it; from unknown it becomes the rule's level) *before* the next rule is
#   checked, so a `risk_level` condition sees the model's level as raised by the matching rules
#   above it, never by rules below it. The final risk level is the running level at the end.
# - first_match: the first matching rule with a `then` decides; the rules after it are not
#   evaluated (traced as such), so a risk-only rule below the deciding rule changes nothing.
# - all_match: every rule is evaluated; the strictest matching outcome wins (reject > cab >
#   approve > auto_approve); on a tie the first wins (its name and reject reason are kept).
#   When approve wins, the approvals of *all* matching approve rules are required together
#   (one requirement per distinct `by` set, the larger count when two rules name the same set):
#   a rule demanding a DBA sign-off cannot be satisfied by another rule's approvers. One
#   person's approval counts toward every requirement whose `by` they match.
# - cab means `cab_quorum` (default 2) approvals by role:change_manager.
# - A condition on an unknown fact (None in the context) never holds, not even `ne`; the trace
#   says "<fact> unknown". Conditions are checked in canonical key order (CONDITION_KEYS).
# - No rule decided: the policy's `default` outcome (default cab), decided_by "default".

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from flywheel.change.policy_conditions import (
    CONDITION_KEYS,
    RISK_LEVELS,
    Facts,
    PolicyContext,
    PolicyError,
)
from flywheel.change.policy_rules import (
    CAB_ROLE,
    ApprovalRequirement,
    Mode,
    Outcome,
    OutcomeKind,
    Policy,
    Rule,
    parse_policy,
)

__all__ = [
    "CONDITION_KEYS",
    "DEFAULT_POLICY_YAML",
    "RISK_LEVELS",
    "ApprovalRequirement",
    "Mode",
    "Outcome",
    "OutcomeKind",
    "Policy",
    "PolicyContext",
    "PolicyDecision",
    "PolicyError",
    "Rule",
    "RuleTrace",
    "default_policy",
    "evaluate",
    "parse_policy",
]

DEFAULT_POLICY_YAML = """\
description: Built-in policy of a new install; only risky or unclear changes reach people.
mode: first_match
timezone: UTC
cab_quorum: 2
default: cab
rules:
  - name: standard-change
    description: Pre-approved standard changes from a template flow through.
    when: {type: standard}
    then: auto_approve
  - name: emergency-change
    when: {type: emergency}
    then: {approve: {by: "role:change_manager", count: 1}}
  - name: low-risk-small-blast
    description: Low-risk normal changes on a quiet service reaching few tenants.
    when:
      type: normal
      risk_level: low
      tenants_affected: {lte: 1000}
      open_incidents: 0
    then: auto_approve
  - name: high-risk
    when: {risk_level: [high, very_high]}
    then: cab
  - name: medium-risk
    when: {risk_level: medium}
    then: {approve: {by: "role:change_manager", count: 1}}
  - name: everything-else
    when: {}
    then: cab
"""


@functools.cache
def default_policy() -> Policy:
    """The built-in policy, parsed once."""
    return parse_policy(DEFAULT_POLICY_YAML)


@dataclass(frozen=True)
class RuleTrace:
    """How one rule fared: evaluated or not, matched or not, and why (first failed condition)."""

    rule: str
    evaluated: bool
    matched: bool
    reason: str
    risk: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (what dataclasses.asdict gives, without its deep copies)."""
        return {
            "rule": self.rule,
            "evaluated": self.evaluated,
            "matched": self.matched,
            "reason": self.reason,
            "risk": self.risk,
        }


@dataclass(frozen=True)
class PolicyDecision:
    """What a policy decided about a change, and the trail of how it got there."""

    outcome: OutcomeKind
    approvals: tuple[ApprovalRequirement, ...]
    reject_reason: str | None
    risk_level: str | None
    decided_by: str
    matched_rules: tuple[str, ...]
    trace: tuple[RuleTrace, ...]

    @property
    def summary(self) -> str:
        """One line for people and the audit trail."""
        detail = ""
        if self.approvals:
            needs = "; ".join(f"{a.count} of {' | '.join(a.by)}" for a in self.approvals)
            detail = f" ({needs})"
        elif self.reject_reason:
            detail = f" ({self.reject_reason})"
        source = "default" if self.decided_by == "default" else f"rule '{self.decided_by}'"
        return f"{self.outcome.value}{detail} by {source}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the change record and the audit event."""
        return {
            "outcome": self.outcome.value,
            "approvals": [a.to_data() for a in self.approvals],
            "reject_reason": self.reject_reason,
            "risk_level": self.risk_level,
            "decided_by": self.decided_by,
            "matched_rules": list(self.matched_rules),
            "trace": [t.to_dict() for t in self.trace],
        }


def _higher(current: str | None, level: str) -> str:
    """The higher of two risk levels; an unknown level is below every level."""
    if current is None:
        return level
    return max(current, level, key=RISK_LEVELS.index)


@dataclass
class _Evaluation:
    """The running state of one evaluation."""

    facts: Facts
    trace: list[RuleTrace] = field(default_factory=list)
    outcomes: list[tuple[str, Outcome]] = field(default_factory=list)

    def skip(self, rule: Rule) -> None:
        """Record a rule left unevaluated because an earlier rule decided (first_match)."""
        reason = f"not evaluated: rule '{self.outcomes[0][0]}' decided first"
        self.trace.append(RuleTrace(rule.name, evaluated=False, matched=False, reason=reason))

    def apply(self, rule: Rule) -> None:
        """Check a rule; when it matches, raise the risk and collect its outcome."""
        failure = rule.failure(self.facts)
        if failure is not None:
            self.trace.append(RuleTrace(rule.name, evaluated=True, matched=False, reason=failure))
            return
        if rule.risk is not None:
            self.facts = replace(self.facts, risk_level=_higher(self.facts.risk_level, rule.risk))
        if rule.then is not None:
            self.outcomes.append((rule.name, rule.then))
        reason = "matched" if rule.conditions else "matched (no conditions)"
        self.trace.append(RuleTrace(rule.name, True, True, reason, risk=rule.risk))


def _merged_approvals(outcomes: Iterable[Outcome]) -> tuple[ApprovalRequirement, ...]:
    """Every approve outcome's requirement; the same `by` set twice keeps the larger count."""
    merged: dict[frozenset[str], ApprovalRequirement] = {}
    for outcome in outcomes:
        if outcome.approval is None:
            continue
        key = frozenset(outcome.approval.by)
        earlier = merged.get(key)
        if earlier is None or outcome.approval.count > earlier.count:
            by = earlier.by if earlier else outcome.approval.by
            merged[key] = ApprovalRequirement(by, outcome.approval.count)
    return tuple(merged.values())


def _approvals(
    policy: Policy, kind: OutcomeKind, outcomes: list[Outcome]
) -> tuple[ApprovalRequirement, ...]:
    """The approvals a winning outcome of this kind requires."""
    if kind is OutcomeKind.CAB:
        return (ApprovalRequirement((CAB_ROLE,), policy.cab_quorum),)
    if kind is OutcomeKind.APPROVE:
        return _merged_approvals(outcomes)
    return ()


def _decision(policy: Policy, run: _Evaluation) -> PolicyDecision:
    """Pick the winning outcome (the strictest; the first on a tie) and assemble the result."""
    candidates = run.outcomes or [("default", policy.default)]
    decided_by, winner = max(candidates, key=lambda c: c[1].kind.strictness)
    return PolicyDecision(
        outcome=winner.kind,
        approvals=_approvals(policy, winner.kind, [outcome for _, outcome in candidates]),
        reject_reason=winner.reason,
        risk_level=run.facts.risk_level,
        decided_by=decided_by,
        matched_rules=tuple(t.rule for t in run.trace if t.matched),
        trace=tuple(run.trace),
    )


def evaluate(policy: Policy, context: PolicyContext) -> PolicyDecision:
    """Apply a policy to a change's facts."""
    run = _Evaluation(Facts.of(context, policy.timezone))
    for rule in policy.rules:
        if policy.mode is Mode.FIRST_MATCH and run.outcomes:
            run.skip(rule)
        else:
            run.apply(rule)
    return _decision(policy, run)
