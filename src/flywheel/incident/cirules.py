"""Label → CI key rules: which configuration item an alert is about (pure)."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flywheel.errors import InvalidInput

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FORMATTER = string.Formatter()

# Used when an integration names no rules, and for alerts posted to /alerts.
DEFAULT_RULES: list[dict[str, Any]] = [
    {"template": "{ci}"},
    {"template": "{instance}", "pattern": r"^([^:]+)"},
    {"template": "{service}"},
]


@dataclass(frozen=True)
class CIRule:
    """One rule: a template over label names, optionally narrowed by a regular expression.

    `{instance}` takes the `instance` label; `{service}-pool` appends to it. When a
    `pattern` is given, its first group (or the whole match) of the filled template is
    the key; no match means the rule does not apply. A label the template names but the
    alert lacks also means the rule does not apply.
    """

    template: str
    pattern: re.Pattern[str] | None = None
    fields: tuple[str, ...] = ()

    def key_for(self, labels: Mapping[str, str]) -> str | None:
        """The CI key this rule derives from the labels, or None."""
        for name in self.fields:
            if name not in labels:
                return None
        key = self.template.format_map(labels)
        if self.pattern is not None:
            found = self.pattern.search(key)
            if found is None:
                return None
            key = found.group(1) if found.groups() else found.group(0)
        key = key.strip()
        return key or None


def parse_rules(raw: list[dict[str, Any]]) -> list[CIRule]:
    """Rules from their stored form; InvalidInput naming the first bad one."""
    rules = []
    for position, item in enumerate(raw):
        where = f"ci_rules[{position}]"
        template = item.get("template")
        if not isinstance(template, str) or not template.strip():
            raise InvalidInput(
                f"{where}: 'template' must be a non-empty string like '{{instance}}'"
            )
        fields = _check_template(template, where)
        rules.append(CIRule(template, _compile(item.get("pattern"), where), fields))
    return rules


def _check_template(template: str, where: str) -> tuple[str, ...]:
    """The label names the template uses; InvalidInput unless it is plain `{label}` fields."""
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise InvalidInput(f"{where}: template '{template}' is malformed: {exc}") from exc
    fields = [(name, spec, conv) for _, name, spec, conv in parts if name is not None]
    if not fields:
        raise InvalidInput(f"{where}: template '{template}' names no label, e.g. '{{instance}}'")
    for name, spec, conversion in fields:
        if not _FIELD.match(name) or spec or conversion:
            raise InvalidInput(
                f"{where}: '{{{name}}}' in '{template}' must be a plain label name "
                "(letters, digits, underscores; no format spec)"
            )
    return tuple(dict.fromkeys(name for name, _, _ in fields))


def _compile(pattern: object, where: str) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise InvalidInput(f"{where}: 'pattern' must be a string")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(
            f"{where}: pattern '{pattern}' is not a regular expression: {exc}"
        ) from exc
    if compiled.groups > 1:
        raise InvalidInput(f"{where}: pattern '{pattern}' may have at most one group")
    return compiled


def candidates(rules: list[CIRule], labels: Mapping[str, str]) -> list[str]:
    """CI keys the rules derive from the labels, in rule order, without repeats."""
    found: list[str] = []
    for rule in rules:
        key = rule.key_for(labels)
        if key is not None and key not in found:
            found.append(key)
    return found
