"""Keep secrets out of log lines: a logging filter that redacts them from every record.

It rewrites the message, its %-arguments and the exception text of each record before a
formatter sees it: Authorization and Cookie header values, API tokens, Fernet tokens,
values of secret-named keys (password, secret, token, key …) and passwords in URLs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from flywheel.auth.tokens import TOKEN_PREFIX

MASK = "***"

# Header values: "Authorization: Bearer x", "'cookie': 'a=b'", (b'authorization', b'Basic x').
_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|(?:set-)?cookie|x-api-key)"
    r"""(['"]?\s*[:=]\s*(?:b?['"])?|['"]?\s*,\s*b?['"])"""
    r"""([^'"\r\n]+)"""
)
_API_TOKEN = re.compile(rf"\b{re.escape(TOKEN_PREFIX)}[A-Za-z0-9_-]{{16,}}")
_FERNET = re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}")
# key=value or "key": "value" where the key names a secret (password, client_secret, csrf_token…).
_SECRET_FIELD = re.compile(
    r"""(?i)\b([\w.-]*(?:password|passwd|secret|token|api[_-]?key|private[_-]?key))"""
    r"""(['"]?\s*[:=]\s*)(?:(['"])(.*?)\3|([^\s'",;&}\])]+))"""
)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@'\"]+:)([^@\s/'\"]+)@")
_SECRET_KEY_NAME = re.compile(
    r"(?i)(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|(^|[_.-])key$|^key$|"
    r"authorization|cookie|credentials?)"
)


def _field(match: re.Match[str]) -> str:
    name, separator, quote = match.group(1), match.group(2), match.group(3)
    return f"{name}{separator}{quote}{MASK}{quote}" if quote else f"{name}{separator}{MASK}"


def redact_text(text: str) -> str:
    """The text with every secret shape it carries replaced by ***."""
    text = _HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _SECRET_FIELD.sub(_field, text)
    text = _API_TOKEN.sub(f"{TOKEN_PREFIX}{MASK}", text)
    return _FERNET.sub(MASK, text)


def is_secret_name(name: object) -> bool:
    """Whether a mapping key names a secret (its value is never logged)."""
    return isinstance(name, str | bytes) and bool(
        _SECRET_KEY_NAME.search(name.decode() if isinstance(name, bytes) else name)
    )


def redact_value(value: Any) -> Any:
    """A %-argument with its secrets redacted; numbers and harmless objects unchanged."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: MASK if is_secret_name(k) else redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    shown = str(value)
    cleaned = redact_text(shown)
    return value if cleaned == shown else cleaned


# Loggers whose formatter reads the %-arguments themselves: only the arguments are redacted.
KEEP_ARGUMENTS = frozenset({"uvicorn.access"})


def _flatten(record: logging.LogRecord) -> None:
    """Format the message now and redact the whole of it (secrets may span msg and args)."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        return  # a broken format string: the handler reports it as it always does
    record.msg, record.args = redact_text(message), None


class RedactSecrets(logging.Filter):
    """Redacts secrets from each record's message, arguments and exception text; drops none."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place."""
        if isinstance(record.args, Mapping):
            record.args = redact_value(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(redact_value(a) for a in record.args)
        if record.name not in KEEP_ARGUMENTS:
            _flatten(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of a logger (default: the root) that lacks it."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
