"""JSON log lines carry the request id."""

from __future__ import annotations

import json
import logging

from flywheel.context import request_id_var
from flywheel.logs import JsonFormatter, uvicorn_log_config


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("flywheel", logging.WARNING, __file__, 1, message, None, None)


def test_a_line_is_one_json_object_with_the_request_id() -> None:
    token = request_id_var.set("req-123")
    try:
        line = JsonFormatter().format(_record('deploy "x" failed'))
    finally:
        request_id_var.reset(token)
    parsed = json.loads(line)
    assert parsed["message"] == 'deploy "x" failed'
    assert parsed["level"] == "warning" and parsed["request_id"] == "req-123"


def test_exceptions_are_kept_and_text_config_is_uvicorns_with_redaction() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = _record("failed")
        record.exc_info = sys.exc_info()
    parsed = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in parsed["exception"] and "request_id" not in parsed
    text = uvicorn_log_config("info", "text")
    assert text["formatters"]["default"]["()"] == "uvicorn.logging.DefaultFormatter"
    assert all(h["filters"] == ["redact"] for h in text["handlers"].values())
    assert uvicorn_log_config("info", "json")["loggers"]["uvicorn.access"]["handlers"] == ["json"]
