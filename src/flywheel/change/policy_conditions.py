"""Conditions of change-policy rules: the facts they read, parsing, checking (pure)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from flywheel.change.lifecycle import ChangeType
from flywheel.errors import InvalidInput

CHANGE_TYPES = tuple(t.value for t in ChangeType)
RISK_LEVELS = ("low", "medium", "high", "very_high")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NUMBER_FACTS = (
    "risk_score",
    # Gating by budget: the share (in %) of recent changes that scored at least as high.
    # `risk_top_percent: {lte: 10}` holds for the riskiest 10 % of changes.
    "risk_top_percent",
    "service_criticality",
    "tenants_affected",
    "open_incidents",
    "error_budget_left",
)
# The canonical order of condition keys: rules store, check and print conditions in this order.
CONDITION_KEYS = (
    "type",
    "risk_level",
    *NUMBER_FACTS,
    "services",
    "ci_types",
    "hours",
    "weekdays",
    "in_freeze",
    "receipt",
)


class PolicyError(InvalidInput, ValueError):
    """A policy that cannot be read; the message names the rule and the bad key or value."""

    def __init__(self, message: str, *, location: str = "") -> None:
        text = f"{location}: {message}" if location else message
        super().__init__(text, details={"location": location} if location else None)
        self.location = location


@dataclass(frozen=True, kw_only=True)
class PolicyContext:
    """What the service layer knows about a change when a policy decides; None means unknown."""

    change_type: str
    service: str
    planned_start: datetime
    risk_score: float | None = None
    risk_top_percent: float | None = None
    risk_level: str | None = None
    service_criticality: int | None = None
    ci_types: frozenset[str] = frozenset()
    tenants_affected: int | None = None
    open_incidents: int | None = None
    error_budget_left: float | None = None
    in_freeze: bool = False
    receipt: bool = False

    def __post_init__(self) -> None:
        """Refuse contexts no policy could sensibly read."""
        if self.change_type not in CHANGE_TYPES:
            raise ValueError(f"unknown change type {self.change_type!r}")
        if self.risk_level is not None and self.risk_level not in RISK_LEVELS:
            raise ValueError(f"unknown risk level {self.risk_level!r}")
        if self.planned_start.utcoffset() is None:
            raise ValueError("planned_start must be timezone-aware")


@dataclass(frozen=True)
class Facts:
    """A context as a rule sees it: the risk level raised so far, the start in local time."""

    context: PolicyContext
    risk_level: str | None
    local_start: datetime
    timezone: str

    @classmethod
    def of(cls, context: PolicyContext, timezone: str) -> Facts:
        """The facts at the start of an evaluation in a policy's timezone."""
        local = context.planned_start.astimezone(ZoneInfo(timezone))
        return cls(context, context.risk_level, local, timezone)


class Condition(Protocol):
    """One test a rule makes on the facts."""

    @property
    def key(self) -> str:
        """The condition key as written in a policy."""

    def failure(self, facts: Facts) -> str | None:
        """Why the condition does not hold, in words; None when it holds."""

    def to_data(self) -> Any:
        """The condition's value in canonical policy form."""


def _words(values: tuple[str, ...]) -> str:
    """A list of values for a message: 'a', 'a or b', 'a, b or c'."""
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


_ONE_OF_FACTS: dict[str, Callable[[Facts], str | None]] = {
    "type": lambda f: f.context.change_type,
    "risk_level": lambda f: f.risk_level,
    "services": lambda f: f.context.service,
}


@dataclass(frozen=True)
class OneOf:
    """The fact (change type, risk level as raised so far, service) is one of the values."""

    key: str
    values: tuple[str, ...]

    def failure(self, facts: Facts) -> str | None:
        """Why the fact is not one of the values."""
        actual = _ONE_OF_FACTS[self.key](facts)
        if actual is None:
            return f"{self.key} unknown"
        if actual in self.values:
            return None
        label = "service" if self.key == "services" else self.key
        return f"{label} is {actual}, not {_words(self.values)}"

    def to_data(self) -> Any:
        """The values as a list."""
        return list(self.values)


@dataclass(frozen=True)
class TouchesType:
    """At least one CI the change touches has one of the types."""

    values: tuple[str, ...]
    key: str = "ci_types"

    def failure(self, facts: Facts) -> str | None:
        """Why no touched CI has one of the types."""
        touched = facts.context.ci_types
        if touched & set(self.values):
            return None
        seen = ", ".join(sorted(touched)) or "none"
        return f"touches no CI of type {_words(self.values)} (CI types touched: {seen})"

    def to_data(self) -> Any:
        """The types as a list."""
        return list(self.values)


_OPERATORS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "gt": (">", operator.gt),
    "gte": (">=", operator.ge),
    "lt": ("<", operator.lt),
    "lte": ("<=", operator.le),
    "eq": ("=", operator.eq),
    "ne": ("!=", operator.ne),
}


@dataclass(frozen=True)
class Compare:
    """A number fact passes every comparison; an unknown fact passes none (not even 'ne')."""

    key: str
    tests: tuple[tuple[str, float], ...]

    def failure(self, facts: Facts) -> str | None:
        """The first comparison the fact fails."""
        actual: float | None = getattr(facts.context, self.key)
        if actual is None:
            return f"{self.key} unknown"
        for op, limit in self.tests:
            symbol, holds = _OPERATORS[op]
            if not holds(actual, limit):
                return f"{self.key} is {actual}, not {symbol} {limit}"
        return None

    def to_data(self) -> Any:
        """A bare number for a lone equality, else the operator mapping."""
        if len(self.tests) == 1 and self.tests[0][0] == "eq":
            return self.tests[0][1]
        return dict(self.tests)


@dataclass(frozen=True)
class Hours:
    """The planned start's local time of day lies in [start, end); end < start wraps midnight."""

    start: time
    end: time
    key: str = "hours"

    def failure(self, facts: Facts) -> str | None:
        """Why the planned start falls outside the hours."""
        now = facts.local_start.time()
        if self.start < self.end:
            inside = self.start <= now < self.end
        else:
            inside = now >= self.start or now < self.end
        if inside:
            return None
        return f"planned start {now:%H:%M} ({facts.timezone}) is outside {self.to_data()}"

    def to_data(self) -> Any:
        """The window as 'HH:MM-HH:MM'."""
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Weekdays:
    """The planned start falls, in the policy's timezone, on one of the days."""

    values: tuple[str, ...]
    key: str = "weekdays"

    def failure(self, facts: Facts) -> str | None:
        """Why the planned start's weekday is not allowed."""
        day = WEEKDAYS[facts.local_start.weekday()]
        if day in self.values:
            return None
        return f"planned start is on {day} ({facts.timezone}), not {_words(self.values)}"

    def to_data(self) -> Any:
        """The days as a list."""
        return list(self.values)


@dataclass(frozen=True)
class Flag:
    """A yes/no fact (in_freeze, receipt) has the given value."""

    key: str
    value: bool

    def failure(self, facts: Facts) -> str | None:
        """Why the flag differs."""
        actual: bool = getattr(facts.context, self.key)
        if actual == self.value:
            return None
        return f"{self.key} is {str(actual).lower()}, not {str(self.value).lower()}"

    def to_data(self) -> Any:
        """The flag's value."""
        return self.value


def _strings(value: Any, where: str, allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    """A value or non-empty list of strings, optionally from a fixed vocabulary, de-duplicated."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise PolicyError(f"expected a value or a non-empty list, got {value!r}", location=where)
    for item in items:
        if not isinstance(item, str) or not item:
            raise PolicyError(f"expected strings, got {item!r}", location=where)
        if allowed is not None and item not in allowed:
            raise PolicyError(f"{item!r} is not one of {', '.join(allowed)}", location=where)
    return tuple(dict.fromkeys(items))


def _is_number(value: Any) -> bool:
    """Whether a YAML value is a number (booleans are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_compare(key: str, value: Any, where: str) -> Compare:
    """A number (equality) or a mapping of operators to numbers."""
    if _is_number(value):
        return Compare(key, (("eq", value),))
    if not isinstance(value, Mapping) or not value:
        raise PolicyError(f"expected a number or {{gte: n, ...}}, got {value!r}", location=where)
    for op, limit in value.items():
        if op not in _OPERATORS:
            ops = ", ".join(_OPERATORS)
            raise PolicyError(f"unknown operator {op!r} (use {ops})", location=where)
        if not _is_number(limit):
            raise PolicyError(f"{op}: expected a number, got {limit!r}", location=where)
    return Compare(key, tuple((op, value[op]) for op in _OPERATORS if op in value))


_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def _parse_hours(value: Any, where: str) -> Hours:
    """'HH:MM-HH:MM' in 24-hour local time; the end is exclusive and may be past midnight."""
    match = _HOURS.match(value) if isinstance(value, str) else None
    numbers = [int(part) for part in match.groups()] if match else []
    if not match or numbers[0] > 23 or numbers[2] > 23 or numbers[1] > 59 or numbers[3] > 59:
        raise PolicyError(f"{value!r} is not 'HH:MM-HH:MM' (quote it in YAML)", location=where)
    start, end = time(numbers[0], numbers[1]), time(numbers[2], numbers[3])
    if start == end:
        raise PolicyError(f"{value!r} is an empty window; omit hours for all day", location=where)
    return Hours(start, end)


def _parse_flag(key: str, value: Any, where: str) -> Flag:
    """true or false."""
    if not isinstance(value, bool):
        raise PolicyError(f"expected true or false, got {value!r}", location=where)
    return Flag(key, value)


def _parse_one(key: str, value: Any, where: str) -> Condition:
    """One condition from its key and value."""
    if key in NUMBER_FACTS:
        return _parse_compare(key, value, where)
    if key == "type":
        return OneOf(key, _strings(value, where, CHANGE_TYPES))
    if key == "risk_level":
        return OneOf(key, _strings(value, where, RISK_LEVELS))
    if key == "services":
        return OneOf(key, _strings(value, where, None))
    if key == "ci_types":
        return TouchesType(_strings(value, where, None))
    if key == "weekdays":
        return Weekdays(_strings(value, where, WEEKDAYS))
    if key == "hours":
        return _parse_hours(value, where)
    return _parse_flag(key, value, where)


def parse_conditions(data: Any, where: str) -> tuple[Condition, ...]:
    """A rule's `when` mapping as conditions in canonical order."""
    if data is None:
        return ()
    if not isinstance(data, Mapping):
        raise PolicyError(f"expected a mapping of conditions, got {data!r}", location=where)
    unknown = [key for key in data if key not in CONDITION_KEYS]
    if unknown:
        known = ", ".join(CONDITION_KEYS)
        raise PolicyError(f"unknown condition {unknown[0]!r} (known: {known})", location=where)
    ordered = [key for key in CONDITION_KEYS if key in data]
    return tuple(_parse_one(key, data[key], f"{where}.{key}") for key in ordered)
