"""Secrets never reach a log line: messages, %-arguments and exceptions, text and JSON."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from flywheel.auth.tokens import generate_token
from flywheel.log_redaction import RedactSecrets, redact_text
from flywheel.logs import uvicorn_log_config

API_TOKEN = generate_token()
FERNET = Fernet(Fernet.generate_key()).encrypt(b"hunter2-webhook-secret").decode()
SECRETS = [API_TOKEN, FERNET, "s3cr3t-pw", "Zm9vOmJhcg", "cookie-value-42", "pg-pass-9"]


def _lines(fmt: str, emit: object) -> str:
    """What the configured handlers print for records emitted by `emit(logger)`."""
    stream = io.StringIO()
    config = uvicorn_log_config("info", fmt)
    handler_name = "json" if fmt == "json" else "default"
    config["handlers"][handler_name]["stream"] = stream
    logging.config.dictConfig(config)
    emit(logging.getLogger("flywheel.tests"))  # type: ignore[operator]
    return stream.getvalue()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    names = ("flywheel", "dbos", "uvicorn", "uvicorn.error", "uvicorn.access", "")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level) for n in names}
    saved_propagate = {n: logging.getLogger(n).propagate for n in names}
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = saved_propagate[name]


def _every_shape(log: logging.Logger) -> None:
    log.warning("request headers Authorization: Basic Zm9vOmJhcg")
    log.warning("headers %s", {"authorization": f"Bearer {API_TOKEN}", "accept": "text/html"})
    log.warning("cookie seen: %s", "Cookie: flywheel_session=cookie-value-42; theme=dark")
    log.warning("token %s used from %s", API_TOKEN, "10.0.0.1")
    log.warning("stored %s", f"fwenc1:{FERNET}")
    log.warning("settings %s", {"smtp_password": "s3cr3t-pw", "client_secret": "s3cr3t-pw"})
    log.warning("login with password=%s", "s3cr3t-pw")
    log.warning("cannot reach postgresql://flywheel:pg-pass-9@db.example:5432/fw")
    log.warning('GET "/api/v1/alerts/am?token=%s" 200', API_TOKEN)
    try:
        raise RuntimeError(f"connect to postgresql://flywheel:pg-pass-9@db/fw failed, {API_TOKEN}")
    except RuntimeError:
        log.exception("database unreachable")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_every_secret_shape_is_redacted(fmt: str) -> None:
    out = _lines(fmt, _every_shape)
    for secret in SECRETS:
        assert secret not in out, secret
    assert out.count("\n") >= 10 if fmt == "json" else "Traceback" in out
    assert "postgresql://flywheel:***@db.example:5432/fw" in out
    assert "Authorization: ***" in out and "Cookie: ***" in out
    assert "fw_***" in out and "10.0.0.1" in out and "text/html" in out
    assert "database unreachable" in out and "RuntimeError" in out
    if fmt == "json":
        lines = [json.loads(line) for line in out.splitlines()]
        assert lines[-1]["message"] == "database unreachable"
        assert "postgresql://flywheel:***@db/fw" in lines[-1]["exception"]


def test_numbers_and_plain_text_pass_unchanged() -> None:
    record = logging.LogRecord(
        "flywheel", logging.INFO, __file__, 1, "%d steps of %s in %.1f s", (3, "svc", 1.5), None
    )
    assert RedactSecrets().filter(record) is True
    assert record.getMessage() == "3 steps of svc in 1.5 s"
    assert redact_text("token_hint=fw_abc123 tokens=3") == "token_hint=fw_abc123 tokens=3"
    assert redact_text('{"password": "two words"}') == '{"password": "***"}'
    headers = "[(b'host', b'x'), (b'authorization', b'Bearer abc.def')]"
    assert redact_text(headers) == "[(b'host', b'x'), (b'authorization', b'***')]"


def test_uvicorn_access_lines_keep_their_shape() -> None:
    def access(_: logging.Logger) -> None:
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "POST",
            f"/api/v1/alerts/am?token={API_TOKEN}",
            "1.1",
            202,
        )

    stream = io.StringIO()
    config = uvicorn_log_config("info", "text")
    config["handlers"]["access"]["stream"] = stream
    logging.config.dictConfig(config)
    access(logging.getLogger())
    out = stream.getvalue()
    assert API_TOKEN not in out and "?token=***" in out and "202" in out
