"""Logging for `flywheel serve`: text or JSON lines (with the request id), secrets redacted."""

from __future__ import annotations

import copy
import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from flywheel.context import current_request_id


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id (and the exception, if any) as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            line["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str)


REDACT = {"redact": {"()": "flywheel.log_redaction.RedactSecrets"}}
APP_LOGGERS = ("flywheel", "dbos")


def uvicorn_log_config(level: str, fmt: str) -> dict[str, Any]:
    """A logging config for uvicorn and Flywheel, text (uvicorn's own) or JSON lines.

    Every handler carries the secret-redacting filter, and the root logger gets one too,
    so a library's warning passes through it as well.
    """
    return _json_config(level) if fmt == "json" else _text_config(level)


def _json_config(level: str) -> dict[str, Any]:
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
        "filters": ["redact"],
    }
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", *APP_LOGGERS)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": REDACT,
        "formatters": {"json": {"()": "flywheel.logs.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {
            name: {"handlers": ["json"], "level": level.upper(), "propagate": False}
            for name in names
        },
        "root": {"handlers": ["json"], "level": "WARNING"},
    }


def _text_config(level: str) -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = REDACT
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    for name in APP_LOGGERS:
        config["loggers"][name] = {
            "handlers": ["default"],
            "level": level.upper(),
            "propagate": False,
        }
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config


def configure(level: str, fmt: str) -> None:
    """Apply the same logging (and redaction) to a long-running command other than serve."""
    logging.config.dictConfig(uvicorn_log_config(level, fmt))
