"""Real Flywheel processes: the CLI and a server started with `flywheel serve`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import free_port

FLYWHEEL = [sys.executable, "-m", "flywheel"]


@dataclass(frozen=True)
class Cli:
    """Runs `flywheel` commands against the test's database."""

    env: dict[str, str]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*FLYWHEEL, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"flywheel {' '.join(args)} failed:\n{result.stderr}")
        return result


@dataclass(frozen=True)
class Server:
    """A running `flywheel serve` and the admin token `flywheel init` printed."""

    url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Cli:
    env = {
        **os.environ,
        "FLYWHEEL_HOME": str(tmp_path / "home"),
        "FLYWHEEL_DATABASE_URL": database_url,
        "FLYWHEEL_LOG_LEVEL": "warning",
    }
    return Cli(env)


def _wait_ready(url: str, process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"flywheel serve exited: {process.stderr.read()}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("flywheel serve did not become ready")


@pytest.fixture
def server(cli: Cli) -> Iterator[Server]:
    token = cli("init").stdout.strip().splitlines()[-1]
    port = free_port()
    process = subprocess.Popen(
        [*FLYWHEEL, "serve", "--port", str(port)],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield Server(url, token)
    finally:
        process.terminate()
        process.wait(timeout=10)
