"""Checks on CI content that need no database: attribute schemas and min_up."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from flywheel.cmdb.propagation import MinUp
from flywheel.errors import InvalidInput


def check_attribute_schema(schema: dict[str, Any] | None) -> None:
    """Refuse a CI type's attribute schema that is not valid JSON Schema."""
    if schema is None:
        return
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidInput(f"attribute_schema is not valid JSON Schema: {exc.message}") from exc


def check_attributes(
    ci_type: str, schema: dict[str, Any] | None, attributes: dict[str, Any]
) -> None:
    """Refuse attributes that break their type's schema, naming every problem."""
    if schema is None:
        return
    errors = sorted(
        Draft202012Validator(schema).iter_errors(attributes), key=lambda e: list(e.path)
    )
    if errors:
        problems = [
            f"{'.'.join(str(p) for p in e.path) or '(attributes)'}: {e.message}" for e in errors
        ]
        raise InvalidInput(
            f"attributes do not match the schema of type '{ci_type}': " + "; ".join(problems[:5]),
            details={"problems": problems},
        )


def check_min_up(key: str, min_up: str | None, members: int) -> None:
    """Refuse a min_up the pool cannot meet with the members it has."""
    try:
        parsed = MinUp.parse(min_up)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if parsed is None or not members:
        return
    if parsed.required(members) > members:
        raise InvalidInput(
            f"min_up {min_up} of '{key}' is larger than the pool: it has {members} members"
        )
