"""Change policies as data: rules, outcomes, parsing from YAML and the canonical form (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from flywheel.auth.roles import Role
from flywheel.change.policy_conditions import (
    RISK_LEVELS,
    Condition,
    Facts,
    PolicyError,
    parse_conditions,
)

CAB_ROLE = "role:change_manager"
_TEAM_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_POLICY_KEYS = ("description", "mode", "timezone", "cab_quorum", "default", "rules")
_RULE_KEYS = ("name", "description", "when", "then", "risk")


class Mode(StrEnum):
    """How rules combine: the first deciding match, or every match with the strictest winning."""

    FIRST_MATCH = "first_match"
    ALL_MATCH = "all_match"


class OutcomeKind(StrEnum):
    """What a policy decides about a change, from most lenient to strictest."""

    AUTO_APPROVE = "auto_approve"
    APPROVE = "approve"
    CAB = "cab"
    REJECT = "reject"

    @property
    def strictness(self) -> int:
        """Rank for all_match: reject > cab > approve > auto_approve."""
        return list(OutcomeKind).index(self)


@dataclass(frozen=True)
class ApprovalRequirement:
    """`count` approvals, each from someone matching any of `by` ('role:<r>' or 'team:<key>')."""

    by: tuple[str, ...]
    count: int

    def accepts(self, *, roles: Iterable[str], teams: Iterable[str]) -> bool:
        """Whether a person with these roles and team keys may give one of the approvals."""
        mine = {f"role:{r}" for r in roles} | {f"team:{t}" for t in teams}
        return not mine.isdisjoint(self.by)

    def to_data(self) -> dict[str, Any]:
        """The requirement as {by: [...], count: n}."""
        return {"by": list(self.by), "count": self.count}


@dataclass(frozen=True)
class Outcome:
    """A rule's `then`: its kind, plus the approval (approve) or the reason (reject)."""

    kind: OutcomeKind
    approval: ApprovalRequirement | None = None
    reason: str | None = None

    def to_data(self) -> Any:
        """The outcome in canonical policy form."""
        if self.approval is not None:
            return {"approve": self.approval.to_data()}
        if self.reason is not None:
            return {"reject": self.reason}
        return self.kind.value


@dataclass(frozen=True)
class Rule:
    """Conditions that must all hold, and what follows: an outcome, a risk level, or both."""

    name: str
    conditions: tuple[Condition, ...] = ()
    then: Outcome | None = None
    risk: str | None = None
    description: str | None = None

    def failure(self, facts: Facts) -> str | None:
        """The first condition (in canonical order) that does not hold, in words."""
        for condition in self.conditions:
            reason = condition.failure(facts)
            if reason is not None:
                return reason
        return None

    def to_data(self) -> dict[str, Any]:
        """The rule in canonical policy form."""
        data: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            data["description"] = self.description
        data["when"] = {c.key: c.to_data() for c in self.conditions}
        if self.risk is not None:
            data["risk"] = self.risk
        if self.then is not None:
            data["then"] = self.then.to_data()
        return data


@dataclass(frozen=True)
class Policy:
    """An ordered list of rules, how they combine, and what holds when none decides."""

    rules: tuple[Rule, ...] = ()
    mode: Mode = Mode.FIRST_MATCH
    default: Outcome = Outcome(OutcomeKind.CAB)
    cab_quorum: int = 2
    timezone: str = "UTC"
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The canonical form: fixed key order, every setting explicit; parses back equal."""
        data: dict[str, Any] = {}
        if self.description is not None:
            data["description"] = self.description
        data |= {"mode": self.mode.value, "timezone": self.timezone}
        data |= {"cab_quorum": self.cab_quorum, "default": self.default.to_data()}
        data["rules"] = [rule.to_data() for rule in self.rules]
        return data

    def to_yaml(self) -> str:
        """The canonical form as YAML, for storing and diffing versions."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @property
    def teams(self) -> frozenset[str]:
        """Keys of the teams named as approvers, for the service layer to check they exist."""
        outcomes = [self.default, *(rule.then for rule in self.rules if rule.then)]
        return frozenset(
            who.removeprefix("team:")
            for outcome in outcomes
            if outcome.approval is not None
            for who in outcome.approval.by
            if who.startswith("team:")
        )


def _check_keys(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """Refuse keys outside `allowed`."""
    for key in data:
        if key not in allowed:
            known = ", ".join(allowed)
            raise PolicyError(f"unknown key {key!r} (known: {known})", location=where)


def _count(value: Any, where: str) -> int:
    """A whole number of approvals, at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PolicyError(f"expected a whole number >= 1, got {value!r}", location=where)
    return value


def _approver(value: Any, where: str) -> str:
    """'role:<role>' (a known role) or 'team:<team key>'."""
    kind, _, name = value.partition(":") if isinstance(value, str) else ("", "", "")
    if kind == "role" and name in tuple(Role):
        return f"role:{name}"
    if kind == "team" and _TEAM_KEY.match(name):
        return f"team:{name}"
    roles = ", ".join(Role)
    message = f"approver {value!r} must be 'role:<{roles}>' or 'team:<team key>'"
    raise PolicyError(message, location=where)


def _parse_approval(value: Any, where: str) -> ApprovalRequirement:
    """{by: approver or list, count: n (default 1)}."""
    if not isinstance(value, Mapping) or "by" not in value:
        raise PolicyError(f"expected {{by: ..., count: n}}, got {value!r}", location=where)
    _check_keys(value, ("by", "count"), where)
    by = value["by"]
    items = [by] if isinstance(by, str) else by
    if not isinstance(items, list) or not items:
        raise PolicyError(f"by: expected an approver or a list, got {by!r}", location=where)
    approvers = tuple(dict.fromkeys(_approver(item, f"{where}.by") for item in items))
    return ApprovalRequirement(approvers, _count(value.get("count", 1), f"{where}.count"))


def _parse_reason(value: Any, where: str) -> str:
    """A non-empty reject reason."""
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"reject needs a reason text, got {value!r}", location=where)
    return value.strip()


def parse_outcome(value: Any, where: str) -> Outcome:
    """auto_approve | cab | {approve: {by, count}} | {reject: reason}."""
    if value in ("auto_approve", "cab"):
        return Outcome(OutcomeKind(value))
    if isinstance(value, Mapping) and len(value) == 1:
        kind, argument = next(iter(value.items()))
        if kind == "approve":
            return Outcome(OutcomeKind.APPROVE, _parse_approval(argument, f"{where}.approve"))
        if kind == "reject":
            return Outcome(OutcomeKind.REJECT, reason=_parse_reason(argument, f"{where}.reject"))
    expected = "auto_approve, cab, {approve: {by: ..., count: n}} or {reject: reason}"
    raise PolicyError(f"unknown outcome {value!r}; expected {expected}", location=where)


def _rule_name(data: Mapping[str, Any], where: str) -> str:
    """A rule's non-empty name; 'default' is reserved for 'no rule decided'."""
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PolicyError(f"every rule needs a non-empty 'name', got {name!r}", location=where)
    if name.strip() == "default":
        raise PolicyError("the rule name 'default' is reserved", location=where)
    return name.strip()


def _optional_text(value: Any, where: str) -> str | None:
    """An optional description."""
    if value is not None and not isinstance(value, str):
        raise PolicyError(f"expected text, got {value!r}", location=where)
    return value


def _risk(value: Any, where: str) -> str | None:
    """An optional risk level a rule raises the change's risk to."""
    if value is not None and value not in RISK_LEVELS:
        levels = ", ".join(RISK_LEVELS)
        raise PolicyError(f"{value!r} is not a risk level ({levels})", location=where)
    return None if value is None else str(value)


def _parse_rule(index: int, data: Any) -> Rule:
    """One entry of `rules`."""
    where = f"rules[{index}]"
    if not isinstance(data, Mapping):
        raise PolicyError(
            f"expected a mapping with name, when, then/risk, got {data!r}", location=where
        )
    name = _rule_name(data, where)
    where = f"rules[{index}] ({name})"
    _check_keys(data, _RULE_KEYS, where)
    if data.get("then") is None and data.get("risk") is None:
        raise PolicyError("a rule needs a 'then' outcome, a 'risk' level, or both", location=where)
    then = data.get("then")
    return Rule(
        name=name,
        conditions=parse_conditions(data.get("when"), f"{where}: when"),
        then=None if then is None else parse_outcome(then, f"{where}: then"),
        risk=_risk(data.get("risk"), f"{where}: risk"),
        description=_optional_text(data.get("description"), f"{where}: description"),
    )


def _parse_rules(value: Any) -> tuple[Rule, ...]:
    """The `rules` list, with unique names."""
    if not isinstance(value, list):
        raise PolicyError(f"'rules' must be a list, got {value!r}", location="rules")
    rules = tuple(_parse_rule(index, item) for index, item in enumerate(value))
    first: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if rule.name in first:
            where = f"rules[{index}] ({rule.name})"
            message = f"duplicate rule name (also rules[{first[rule.name]}])"
            raise PolicyError(message, location=where)
        first[rule.name] = index
    return rules


def _timezone(value: Any) -> str:
    """An IANA timezone name."""
    if not isinstance(value, str) or not value:
        raise PolicyError(f"expected a timezone name, got {value!r}", location="timezone")
    try:
        ZoneInfo(value)
    except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise PolicyError(f"unknown timezone {value!r}", location="timezone") from exc
    return value


def _mode(value: Any) -> Mode:
    """first_match or all_match."""
    if value not in tuple(Mode):
        modes = ", ".join(Mode)
        raise PolicyError(f"unknown mode {value!r} (use {modes})", location="mode")
    return Mode(value)


def _load(source: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """The policy mapping from YAML text or an already-parsed mapping."""
    data: Any = source
    if isinstance(source, str):
        try:
            data = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise PolicyError(f"invalid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise PolicyError(f"a policy must be a mapping with 'rules', got {data!r}")
    return data


def parse_policy(source: str | Mapping[str, Any]) -> Policy:
    """A validated policy from YAML text or a parsed mapping; raises PolicyError."""
    data = _load(source)
    _check_keys(data, _POLICY_KEYS, "policy")
    if "rules" not in data:
        raise PolicyError("a policy needs 'rules' (may be an empty list)", location="rules")
    return Policy(
        rules=_parse_rules(data["rules"]),
        mode=_mode(data.get("mode", Mode.FIRST_MATCH.value)),
        default=parse_outcome(data.get("default", "cab"), "default"),
        cab_quorum=_count(data.get("cab_quorum", 2), "cab_quorum"),
        timezone=_timezone(data.get("timezone", "UTC")),
        description=_optional_text(data.get("description"), "description"),
    )
