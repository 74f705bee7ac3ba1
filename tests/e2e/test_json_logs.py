"""`flywheel serve` with FLYWHEEL_LOG_FORMAT=json writes JSON lines with request ids."""

from __future__ import annotations

import json
import subprocess

import httpx

from tests.e2e.conftest import FLYWHEEL, Cli, _wait_ready
from tests.support import free_port


def test_access_log_lines_are_json_with_the_request_id(cli: Cli) -> None:
    cli("init")
    port = free_port()
    env = {**cli.env, "FLYWHEEL_LOG_FORMAT": "json", "FLYWHEEL_LOG_LEVEL": "info"}
    process = subprocess.Popen(
        [*FLYWHEEL, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        answer = httpx.get(f"{url}/api/v1/me", headers={"X-Request-ID": "e2e-log-check"})
        assert answer.status_code == 401
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines, stderr
    mine = [line for line in lines if line.get("request_id") == "e2e-log-check"]
    assert mine and "/api/v1/me" in mine[-1]["message"]
