"""Change policy engine: conditions, modes, risk, time windows, parsing, built-in policy."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from flywheel.change.policy import (
    DEFAULT_POLICY_YAML,
    ApprovalRequirement,
    Mode,
    OutcomeKind,
    PolicyContext,
    PolicyDecision,
    PolicyError,
    default_policy,
    evaluate,
    parse_policy,
)
from flywheel.errors import InvalidInput

TUESDAY_10 = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
CM = "role:change_manager"


def ctx(**facts: Any) -> PolicyContext:
    """A normal, low-risk change on 'shop' with every fact known, overridden by `facts`."""
    base: dict[str, Any] = {
        "change_type": "normal",
        "service": "shop",
        "planned_start": TUESDAY_10,
        "risk_score": 0.3,
        "risk_level": "low",
        "service_criticality": 2,
        "ci_types": frozenset({"application"}),
        "tenants_affected": 10,
        "open_incidents": 0,
        "error_budget_left": 0.5,
    }
    return PolicyContext(**(base | facts))


def one_rule(when: dict[str, Any], context: PolicyContext, tz: str = "UTC") -> PolicyDecision:
    """Evaluate a policy whose only rule 'r' auto-approves when `when` holds."""
    data = {"timezone": tz, "rules": [{"name": "r", "when": when, "then": "auto_approve"}]}
    return evaluate(parse_policy(data), context)


CONDITIONS = [
    ({"type": "normal"}, {}, None),
    ({"type": ["standard", "normal"]}, {}, None),
    ({"type": ["standard", "emergency"]}, {}, "type is normal, not standard or emergency"),
    ({"risk_level": "low"}, {}, None),
    ({"risk_level": ["high", "very_high"]}, {}, "risk_level is low, not high or very_high"),
    ({"risk_level": "low"}, {"risk_level": None}, "risk_level unknown"),
    ({"risk_score": {"gt": 0.2}}, {}, None),
    ({"risk_score": {"gt": 0.3}}, {}, "risk_score is 0.3, not > 0.3"),
    ({"risk_score": {"gte": 0.3}}, {}, None),
    ({"risk_score": {"gte": 0.9}}, {}, "risk_score is 0.3, not >= 0.9"),
    ({"risk_score": {"lt": 0.3}}, {}, "risk_score is 0.3, not < 0.3"),
    ({"risk_score": {"lte": 0.3}}, {}, None),
    ({"risk_score": 0.3}, {}, None),
    ({"risk_score": {"eq": 0.4}}, {}, "risk_score is 0.3, not = 0.4"),
    ({"risk_score": {"ne": 0.3}}, {}, "risk_score is 0.3, not != 0.3"),
    ({"risk_score": {"ne": 0.4}}, {}, None),
    ({"risk_score": {"gte": 0.1, "lt": 0.3}}, {}, "risk_score is 0.3, not < 0.3"),
    ({"risk_score": {"ne": 0.4}}, {"risk_score": None}, "risk_score unknown"),
    ({"tenants_affected": {"lte": 1000}}, {"tenants_affected": 1000}, None),
    ({"tenants_affected": {"lte": 1000}}, {"tenants_affected": 1001}, "is 1001, not <= 1000"),
    ({"tenants_affected": {"lte": 1000}}, {"tenants_affected": None}, "tenants_affected unknown"),
    ({"open_incidents": 0}, {}, None),
    ({"open_incidents": 0}, {"open_incidents": 2}, "open_incidents is 2, not = 0"),
    ({"open_incidents": 0}, {"open_incidents": None}, "open_incidents unknown"),
    ({"error_budget_left": {"gte": 0.25}}, {}, None),
    ({"error_budget_left": {"gte": 0.25}}, {"error_budget_left": -0.1}, "is -0.1, not >= 0.25"),
    ({"error_budget_left": {"gte": 0.25}}, {"error_budget_left": None}, "budget_left unknown"),
    ({"service_criticality": {"gte": 3}}, {}, "service_criticality is 2, not >= 3"),
    ({"service_criticality": {"lt": 3}}, {"service_criticality": None}, "criticality unknown"),
    ({"services": ["shop", "cart"]}, {}, None),
    ({"services": "cart"}, {}, "service is shop, not cart"),
    ({"ci_types": ["database", "application"]}, {}, None),
    ({"ci_types": "database"}, {}, "no CI of type database (CI types touched: application)"),
    ({"ci_types": "database"}, {"ci_types": frozenset()}, "(CI types touched: none)"),
    ({"in_freeze": True}, {}, "in_freeze is false, not true"),
    ({"in_freeze": False}, {}, None),
    ({"in_freeze": False}, {"in_freeze": True}, "in_freeze is true, not false"),
    ({"receipt": True}, {"receipt": True}, None),
    ({"receipt": True}, {}, "receipt is false, not true"),
    ({}, {}, None),
    # Conditions are checked in canonical order: type before hours, whatever the YAML order.
    ({"hours": "00:00-01:00", "type": "standard"}, {}, "type is normal, not standard"),
]


@pytest.mark.parametrize(("when", "facts", "failure"), CONDITIONS)
def test_condition(when: dict[str, Any], facts: dict[str, Any], failure: str | None) -> None:
    """Each condition holds or fails with the reason in words; unknown facts never hold."""
    decision = one_rule(when, ctx(**facts))
    trace = decision.trace[0]
    assert trace.matched is (failure is None)
    if failure is None:
        assert decision.decided_by == "r"
        assert decision.outcome is OutcomeKind.AUTO_APPROVE
    else:
        assert decision.decided_by == "default"
        assert failure in trace.reason


def at(text: str) -> datetime:
    """'MM-DD HH:MM' in 2024 UTC, or full ISO text with an offset."""
    return datetime.fromisoformat(text if "T" in text else f"2024-{text}+00:00")


BER = "Europe/Berlin"
DAY = {"hours": "06:00-18:00"}
NIGHT = {"hours": "22:00-06:00"}
LATE = {"hours": "22:00-00:00"}
OFFICE = {"hours": "07:00-18:00"}
TIMES = [
    (DAY, "UTC", "03-05 06:00", None),
    (DAY, "UTC", "03-05 17:59", None),
    (DAY, "UTC", "03-05 18:00", "planned start 18:00 (UTC) is outside 06:00-18:00"),
    (NIGHT, "UTC", "03-05 23:30", None),
    (NIGHT, "UTC", "03-05 05:59", None),
    (NIGHT, "UTC", "03-05 06:00", "06:00 (UTC) is outside 22:00-06:00"),
    (NIGHT, "UTC", "03-05 12:00", "12:00 (UTC) is outside"),
    (LATE, "UTC", "03-05 23:59", None),
    (LATE, "UTC", "03-06 00:00", "00:00 (UTC) is outside 22:00-00:00"),
    # The start is read in the policy's timezone, whatever offset it was given in.
    (OFFICE, BER, "01-10 06:30", None),
    (OFFICE, BER, "2024-01-10T01:30-05:00", None),
    (OFFICE, BER, "01-10 05:30", "06:30 (Europe/Berlin) is outside"),
    (OFFICE, BER, "07-10 05:30", None),
    # DST: 05:30 UTC is 06:30 CET the day before summer time, 07:30 CEST on 31 March ...
    (OFFICE, BER, "03-30 05:30", "06:30 (Europe/Berlin) is outside"),
    (OFFICE, BER, "03-31 05:30", None),
    # ... and 07:30 CEST on 26 October, 06:30 CET on 27 October.
    (OFFICE, BER, "10-26 05:30", None),
    (OFFICE, BER, "10-27 05:30", "06:30 (Europe/Berlin) is outside"),
    ({"weekdays": ["mon", "tue", "wed", "thu"]}, "UTC", "03-05 10:00", None),
    ({"weekdays": ["mon", "tue"]}, "UTC", "03-08 10:00", "is on fri (UTC), not mon or tue"),
    ({"weekdays": "sun"}, "UTC", "03-10 10:00", None),
    # Thursday 23:30 UTC is already Friday in Berlin.
    ({"weekdays": ["thu"]}, "UTC", "03-07 23:30", None),
    ({"weekdays": ["thu"]}, BER, "03-07 23:30", "is on fri (Europe/Berlin), not thu"),
]


@pytest.mark.parametrize(("when", "tz", "start", "failure"), TIMES)
def test_time_conditions(when: dict[str, Any], tz: str, start: str, failure: str | None) -> None:
    """Hours (end exclusive, wrapping midnight) and weekdays in the policy's timezone."""
    decision = one_rule(when, ctx(planned_start=at(start)), tz=tz)
    assert decision.trace[0].matched is (failure is None)
    if failure is not None:
        assert failure in decision.trace[0].reason


def brief(decision: PolicyDecision) -> str:
    """'<outcome> by <rule>[: <count>x <by|by>; ...][: <reason>]' with CM for the CAB role."""
    text = f"{decision.outcome} by {decision.decided_by}"
    needs = [f"{a.count}x {'|'.join(a.by)}" for a in decision.approvals]
    if needs:
        text += ": " + "; ".join(needs).replace(CM, "CM")
    if decision.reject_reason:
        text += f": {decision.reject_reason}"
    return text


def rule_(name: str, when: dict[str, Any], then: Any = None, risk: str | None = None) -> Any:
    """A rule as policy data."""
    return (
        {"name": name, "when": when}
        | ({"then": then} if then else {})
        | ({"risk": risk} if risk else {})
    )


def approve(by: str | list[str], count: int = 1) -> dict[str, Any]:
    """An approve outcome."""
    return {"approve": {"by": by, "count": count}}


MIXED_RULES = [
    rule_("cheap", {"risk_level": "low"}, "auto_approve"),
    rule_("dba", {"ci_types": "database"}, approve("team:dba")),
    rule_("peer", {"type": "normal"}, approve([CM, "team:ops"])),
    rule_("dba-2", {"risk_score": {"gte": 0.5}}, approve("team:dba", 2)),
    rule_("busy", {"open_incidents": {"gte": 1}}, "cab"),
    rule_("busy-2", {"open_incidents": {"gte": 2}}, "cab"),
    rule_("frozen", {"in_freeze": True}, {"reject": "frozen"}),
    rule_("frozen-2", {"in_freeze": True}, {"reject": "still frozen"}),
]
DB = frozenset({"database"})
HIGH_DB = {"risk_level": "high", "ci_types": DB}
MODES = [
    ("first_match", {}, "auto_approve by cheap"),
    ("all_match", {}, "approve by peer: 1x CM|team:ops"),
    ("first_match", HIGH_DB, "approve by dba: 1x team:dba"),
    # Approvals of all matching approve rules are required; the same `by` keeps the larger count.
    ("all_match", HIGH_DB | {"risk_score": 0.6}, "approve by dba: 2x team:dba; 1x CM|team:ops"),
    ("all_match", {"open_incidents": 3}, "cab by busy: 2x CM"),
    ("all_match", {"open_incidents": 3, "in_freeze": True}, "reject by frozen: frozen"),
    ("first_match", {"risk_level": "medium", "change_type": "standard"}, "cab by default: 2x CM"),
    ("all_match", {"risk_level": "medium", "change_type": "standard"}, "cab by default: 2x CM"),
]


@pytest.mark.parametrize(("mode", "facts", "expected"), MODES)
def test_modes(mode: str, facts: dict[str, Any], expected: str) -> None:
    """first_match stops at the first deciding rule; all_match lets the strictest win."""
    policy = parse_policy({"mode": mode, "rules": MIXED_RULES})
    assert brief(evaluate(policy, ctx(**facts))) == expected


def test_first_match_does_not_evaluate_rules_after_the_decision() -> None:
    """The trace says which rules were skipped and because of which rule."""
    decision = evaluate(parse_policy({"rules": MIXED_RULES}), ctx(in_freeze=True))
    assert decision.matched_rules == ("cheap",)
    assert [t.evaluated for t in decision.trace] == [True] + [False] * 7
    assert decision.trace[-1].reason == "not evaluated: rule 'cheap' decided first"


def test_all_match_records_every_matched_rule() -> None:
    """all_match evaluates every rule and lists all that matched, in order."""
    policy = parse_policy({"mode": "all_match", "rules": MIXED_RULES})
    decision = evaluate(policy, ctx(in_freeze=True, open_incidents=1))
    assert decision.matched_rules == ("cheap", "peer", "busy", "frozen", "frozen-2")
    assert all(t.evaluated for t in decision.trace)
    assert decision.trace[5].reason == "open_incidents is 1, not >= 2"


OK = rule_("ok", {}, "auto_approve")
GATE = rule_("gate", {"risk_level": "high"}, "cab")
LOW_GATE = rule_("low-gate", {"risk_level": "low"}, "cab")
DB_HIGH = rule_("db", {"ci_types": "database"}, risk="high")
MED, HIGH = rule_("m", {}, risk="medium"), rule_("h", {}, risk="high")
RISK = [
    # A risk-only rule above a risk_level condition is seen by it ...
    ("first_match", [DB_HIGH, GATE, OK], {"ci_types": DB}, "gate", "high"),
    # ... one below is not (though it still raises the final level) ...
    ("first_match", [GATE, DB_HIGH, OK], {"ci_types": DB}, "ok", "high"),
    ("all_match", [GATE, DB_HIGH, OK], {"ci_types": DB}, "ok", "high"),
    # ... and in first_match one below the deciding rule is not even evaluated.
    ("first_match", [GATE, OK, DB_HIGH], {"ci_types": DB}, "ok", "low"),
    ("all_match", [GATE, OK, DB_HIGH], {"ci_types": DB}, "ok", "high"),
    # Risk-only rules that do not match change nothing.
    ("first_match", [DB_HIGH, GATE, OK], {}, "ok", "low"),
    # A rule never lowers the risk; of several, the higher wins whatever their order.
    ("first_match", [MED, OK], {"risk_level": "very_high"}, "ok", "very_high"),
    ("first_match", [MED, HIGH, OK], {}, "ok", "high"),
    ("first_match", [HIGH, MED, OK], {}, "ok", "high"),
    # From an unknown model level a rule sets the level; a condition above it sees "unknown".
    ("first_match", [LOW_GATE, MED, OK], {"risk_level": None}, "ok", "medium"),
    # The deciding rule's own risk counts.
    ("first_match", [rule_("d", {}, "cab", risk="high")], {}, "d", "high"),
]


@pytest.mark.parametrize(("mode", "rules", "facts", "decided_by", "risk"), RISK)
def test_risk_raising(
    mode: str, rules: list[dict[str, Any]], facts: dict[str, Any], decided_by: str, risk: str
) -> None:
    """Risk-only rules raise the level in order; the final level is in the decision."""
    decision = evaluate(parse_policy({"mode": mode, "rules": rules}), ctx(**facts))
    assert decision.decided_by == decided_by
    assert decision.risk_level == risk


def test_risk_trace_names_the_level_a_rule_set() -> None:
    """A matched risk rule's trace carries its level; an unknown level is explained."""
    decision = evaluate(parse_policy({"rules": [LOW_GATE, MED, OK]}), ctx(risk_level=None))
    assert decision.trace[0].reason == "risk_level unknown"
    assert (decision.trace[1].matched, decision.trace[1].risk) == (True, "medium")


DEFAULTS = [
    ({}, "cab by default: 2x CM"),
    ({"cab_quorum": 3}, "cab by default: 3x CM"),
    ({"default": {"reject": "no rule allows it"}}, "reject by default: no rule allows it"),
    ({"default": approve("team:sre", 2)}, "approve by default: 2x team:sre"),
    ({"default": "auto_approve", "rules": [HIGH]}, "auto_approve by default"),
]


@pytest.mark.parametrize(("data", "expected"), DEFAULTS)
def test_default_outcome(data: dict[str, Any], expected: str) -> None:
    """When no rule decides, the policy's default does (cab unless configured)."""
    assert brief(evaluate(parse_policy({"rules": []} | data), ctx())) == expected


BUILT_IN = [
    ({"change_type": "standard", "risk_level": "very_high"}, "auto_approve by standard-change"),
    ({"change_type": "emergency"}, "approve by emergency-change: 1x CM"),
    ({"change_type": "emergency", "in_freeze": True}, "approve by emergency-change: 1x CM"),
    ({}, "auto_approve by low-risk-small-blast"),
    ({"tenants_affected": 1000}, "auto_approve by low-risk-small-blast"),
    ({"tenants_affected": 1001}, "cab by everything-else: 2x CM"),
    ({"open_incidents": 1}, "cab by everything-else: 2x CM"),
    ({"open_incidents": None}, "cab by everything-else: 2x CM"),
    ({"risk_level": "high"}, "cab by high-risk: 2x CM"),
    ({"risk_level": "very_high"}, "cab by high-risk: 2x CM"),
    ({"risk_level": "medium"}, "approve by medium-risk: 1x CM"),
    ({"risk_level": None}, "cab by everything-else: 2x CM"),
]


@pytest.mark.parametrize(("facts", "expected"), BUILT_IN)
def test_built_in_policy(facts: dict[str, Any], expected: str) -> None:
    """The policy a new install starts with, on representative changes."""
    assert brief(evaluate(default_policy(), ctx(**facts))) == expected


def one(**fields: Any) -> dict[str, Any]:
    """A policy with one rule 'r' (auto-approving unless `fields` say otherwise)."""
    return {"rules": [{"name": "r", "then": "auto_approve"} | fields]}


PARSE_ERRORS = [
    ("rules: [", "invalid YAML"),
    ("- a\n- b\n", "a policy must be a mapping"),
    ("", "a policy must be a mapping"),
    ({"rules": [], "modes": "all"}, "policy: unknown key 'modes'"),
    ({"mode": "first_match"}, "rules: a policy needs 'rules'"),
    ({"rules": {"r": {}}}, "rules: 'rules' must be a list"),
    ({"rules": [], "mode": "any_match"}, "mode: unknown mode 'any_match' (use first_match, all_"),
    ({"rules": [], "timezone": "Mars/Base"}, "timezone: unknown timezone 'Mars/Base'"),
    ({"rules": [], "timezone": "../etc/passwd"}, "timezone: unknown timezone"),
    ({"rules": [], "timezone": 5}, "timezone: expected a timezone name, got 5"),
    ({"rules": [], "cab_quorum": 0}, "cab_quorum: expected a whole number >= 1, got 0"),
    ({"rules": [], "default": "maybe"}, "default: unknown outcome 'maybe'"),
    ({"rules": [], "description": ["x"]}, "description: expected text"),
    ({"rules": ["auto_approve"]}, "rules[0]: expected a mapping"),
    ({"rules": [{"when": {}, "then": "cab"}]}, "rules[0]: every rule needs a non-empty 'name'"),
    ({"rules": [{"name": "default", "then": "cab"}]}, "rules[0]: the rule name 'default' is res"),
    ({"rules": [OK, {"name": "b", "thne": "cab"}]}, "rules[1] (b): unknown key 'thne'"),
    ({"rules": [OK, {"name": "b", "when": {}}]}, "rules[1] (b): a rule needs a 'then' outcome"),
    ({"rules": [OK, GATE, OK]}, "rules[2] (ok): duplicate rule name (also rules[0])"),
    (one(when=["type"]), "rules[0] (r): when: expected a mapping of conditions"),
    (one(when={"tenants": 5}), "rules[0] (r): when: unknown condition 'tenants'"),
    (one(risk="extreme"), "rules[0] (r): risk: 'extreme' is not a risk level (low, medium, hi"),
    (one(description=3), "rules[0] (r): description: expected text, got 3"),
    (one(then="approve"), "rules[0] (r): then: unknown outcome 'approve'"),
    (one(then="auto-approve"), "rules[0] (r): then: unknown outcome 'auto-approve'"),
    (one(then={"cab": True, "reject": "x"}), "rules[0] (r): then: unknown outcome"),
    (one(then={"reject": " "}), "rules[0] (r): then.reject: reject needs a reason text"),
]


@pytest.mark.parametrize(("source", "message"), PARSE_ERRORS)
def test_parse_errors(source: str | dict[str, Any], message: str) -> None:
    """Every invalid policy is refused with a message naming the rule and the bad key or value."""
    with pytest.raises(PolicyError, match=re.escape(message)):
        parse_policy(source)


CONDITION_ERRORS = [
    ("risk_score", {"gtee": 0.5}, "unknown operator 'gtee' (use gt, gte, lt, lte, eq, ne)"),
    ("risk_score", {"gte": "high"}, "gte: expected a number, got 'high'"),
    ("risk_score", {}, "expected a number or {gte: n, ...}"),
    ("open_incidents", "0", "expected a number or"),
    ("open_incidents", True, "expected a number or"),
    ("hours", "6-18", "'6-18' is not 'HH:MM-HH:MM'"),
    ("hours", "25:00-06:00", "'25:00-06:00' is not"),
    ("hours", "06:60-07:00", "'06:60-07:00' is not"),
    ("hours", 360, "360 is not 'HH:MM-HH:MM' (quote it in YAML)"),
    ("hours", "06:00-06:00", "'06:00-06:00' is an empty window"),
    ("type", "minor", "'minor' is not one of standard, normal, emergency"),
    ("risk_level", ["low", "severe"], "'severe' is not one of low, medium, high, very_high"),
    ("weekdays", ["monday"], "'monday' is not one of mon, tue"),
    ("services", [], "expected a value or a non-empty list"),
    ("ci_types", [3], "expected strings, got 3"),
    ("in_freeze", 1, "expected true or false, got 1"),
    ("receipt", "yes please", "expected true or false"),
]


@pytest.mark.parametrize(("key", "value", "message"), CONDITION_ERRORS)
def test_condition_errors(key: str, value: Any, message: str) -> None:
    """A bad condition is refused naming the rule, the condition key and the value."""
    with pytest.raises(PolicyError, match=re.escape(f"rules[0] (r): when.{key}: {message}")):
        parse_policy(one(when={key: value}))


APPROVE_ERRORS = [
    ({"count": 1}, "approve", "expected {by: ..., count: n}"),
    ({"by": "role:nobody"}, "approve.by", "approver 'role:nobody' must be 'role:<developer"),
    ({"by": ["team:dba", "group:x"]}, "approve.by", "approver 'group:x' must be"),
    ({"by": "team:Not Valid"}, "approve.by", "approver 'team:Not Valid' must be"),
    ({"by": []}, "approve", "by: expected an approver or a list"),
    ({"by": CM, "count": 0}, "approve.count", "expected a whole number >= 1, got 0"),
    ({"by": CM, "count": "2"}, "approve.count", "expected a whole number >= 1, got '2'"),
    ({"by": CM, "count": True}, "approve.count", "expected a whole number >= 1, got True"),
    ({"by": CM, "who": "me"}, "approve", "unknown key 'who' (known: by, count)"),
]


@pytest.mark.parametrize(("approval", "where", "message"), APPROVE_ERRORS)
def test_approve_errors(approval: dict[str, Any], where: str, message: str) -> None:
    """A bad approve outcome is refused naming the rule and the bad part."""
    expected = re.escape(f"rules[0] (r): then.{where}: {message}")
    with pytest.raises(PolicyError, match=expected):
        parse_policy(one(then={"approve": approval}))


def test_policy_error_is_a_value_error_and_invalid_input() -> None:
    """Callers may catch ValueError; the API maps it to 422 like other invalid input."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(one(when={"hours": "x"}))
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.status_code == 422
    assert caught.value.location == "rules[0] (r): when.hours"


def test_hours_unquoted_in_yaml_parse() -> None:
    """An unquoted HH:MM-HH:MM in YAML stays a string and parses."""
    text = "rules:\n  - name: r\n    when: {hours: 06:00-18:00}\n    then: cab\n"
    assert parse_policy(text).rules[0].conditions[0].to_data() == "06:00-18:00"


EXAMPLE = """
mode: all_match
timezone: Europe/Berlin
rules:
  - name: low-risk-small-blast
    when:
      weekdays: [mon, tue]
      tenants_affected: {lte: 1000, gt: 0}
      open_incidents: 0
      type: normal
      hours: "06:00-18:00"
    then: auto_approve
  - name: touches-a-database
    description: databases are risky
    when: {ci_types: database}
    risk: high
  - name: two
    then: {approve: {by: [team:dba, "role:change_manager", team:dba], count: 2}}
"""


def test_canonical_form_round_trips() -> None:
    """to_yaml and to_dict parse back to an equal policy, with every setting explicit."""
    policy = parse_policy(EXAMPLE)
    assert parse_policy(policy.to_yaml()) == policy
    assert parse_policy(policy.to_dict()) == policy
    data = policy.to_dict()
    assert list(data) == ["mode", "timezone", "cab_quorum", "default", "rules"]
    assert list(data["rules"][0]["when"]) == [
        "type", "tenants_affected", "open_incidents", "hours", "weekdays"
    ]  # fmt: skip
    assert data["rules"][0]["when"]["tenants_affected"] == {"gt": 0, "lte": 1000}
    assert data["rules"][0]["when"]["open_incidents"] == 0
    assert data["rules"][1] == {
        "name": "touches-a-database",
        "description": "databases are risky",
        "when": {"ci_types": ["database"]},
        "risk": "high",
    }
    assert data["rules"][2]["then"] == {"approve": {"by": ["team:dba", CM], "count": 2}}
    assert policy.mode is Mode.ALL_MATCH


def test_canonical_form_ignores_key_order() -> None:
    """Two spellings of the same policy have the same canonical YAML, so diffs show real changes."""
    one = parse_policy(
        {"rules": [{"name": "r", "when": {"type": "normal", "open_incidents": 0}, "then": "cab"}]}
    )
    two = parse_policy(
        {"rules": [{"then": "cab", "when": {"open_incidents": 0, "type": ["normal"]}, "name": "r"}]}
    )
    assert one.to_yaml() == two.to_yaml()


def test_built_in_policy_text_is_the_constant() -> None:
    """default_policy() is DEFAULT_POLICY_YAML parsed, and it names no team."""
    assert default_policy() == parse_policy(DEFAULT_POLICY_YAML)
    assert default_policy().teams == frozenset()
    assert parse_policy(EXAMPLE).teams == {"dba"}


@pytest.mark.parametrize(
    ("roles", "teams", "accepted"),
    [
        (["change_manager"], [], True),
        (["developer"], ["dba"], True),
        (["developer"], ["ops"], False),
        ([], [], False),
    ],
)
def test_approval_requirement_accepts(roles: list[str], teams: list[str], accepted: bool) -> None:
    """A person may approve when any of their roles or teams is among the alternatives."""
    requirement = ApprovalRequirement((CM, "team:dba"), 2)
    assert requirement.accepts(roles=roles, teams=teams) is accepted


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"planned_start": datetime(2024, 3, 5, 10)}, "planned_start must be timezone-aware"),
        ({"change_type": "minor"}, "unknown change type 'minor'"),
        ({"risk_level": "severe"}, "unknown risk level 'severe'"),
    ],
)
def test_context_is_validated(facts: dict[str, Any], message: str) -> None:
    """A context no policy could read is refused at construction."""
    with pytest.raises(ValueError, match=re.escape(message)):
        ctx(**facts)


def test_decision_for_the_audit_trail() -> None:
    """The decision serialises to JSON-ready data and a one-line summary naming the rule."""
    policy = parse_policy({"rules": MIXED_RULES, "mode": "all_match"})
    tz = timezone(timedelta(hours=2))
    decision = evaluate(policy, ctx(planned_start=TUESDAY_10.astimezone(tz), risk_level="high"))
    assert decision.summary == "approve (1 of role:change_manager | team:ops) by rule 'peer'"
    data = decision.to_dict()
    assert data["approvals"] == [{"by": [CM, "team:ops"], "count": 1}]
    assert data["trace"][0] == {
        "rule": "cheap",
        "evaluated": True,
        "matched": False,
        "reason": "risk_level is high, not low",
        "risk": None,
    }
    rejected = evaluate(policy, ctx(in_freeze=True))
    assert rejected.summary == "reject (frozen) by rule 'frozen'"
    assert evaluate(parse_policy({"rules": []}), ctx()).summary.endswith("by default")
