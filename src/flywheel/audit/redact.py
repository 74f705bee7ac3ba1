"""Secrets never enter the audit trail: values under secret-looking keys are replaced."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

REDACTED = "[redacted]"
SECRET_NAMES = (
    "secret",
    "password",
    "token",
    "private_key",
    "api_key",
    "credentials",
    "webhook_url",
    "kubeconfig",
    "authorization",
)


@lru_cache(maxsize=4096)  # an audit payload's keys come from a small set, seen again and again
def is_secret_name(key: str) -> bool:
    """Whether a field of this name holds a secret ('token' and 'access_token', not 'token_id')."""
    name = key.lower().replace("-", "_")
    return any(name == s or name.endswith("_" + s) for s in SECRET_NAMES)


def redacted(value: Any) -> Any:
    """The value with every secret-named field's content replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if is_secret_name(str(k)) and v not in (None, "") else redacted(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value
