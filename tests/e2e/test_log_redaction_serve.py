"""A real `flywheel serve` keeps tokens out of its log lines, in text and in JSON format."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from flywheel.auth.tokens import generate_token
from tests.e2e.conftest import FLYWHEEL, Cli, _wait_ready
from tests.support import free_port


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_token_in_the_address_never_reaches_the_log(cli: Cli, fmt: str) -> None:
    cli("init")
    secret = generate_token()
    port = free_port()
    env = {**cli.env, "FLYWHEEL_LOG_FORMAT": fmt, "FLYWHEEL_LOG_LEVEL": "info"}
    process = subprocess.Popen(
        [*FLYWHEEL, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        answer = httpx.get(f"{url}/api/v1/me?token={secret}", headers={"X-Request-ID": "redact-1"})
        assert answer.status_code == 401
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=15)
    logged = stdout + stderr
    assert "/api/v1/me?token=***" in logged, logged[-2000:]
    assert secret not in logged
