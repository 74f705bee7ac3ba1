"""Benchmark helpers: a real `flywheel serve` on a scratch database, free ports, readiness."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

FLYWHEEL = [sys.executable, "-m", "flywheel"]


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running `flywheel serve` and the admin token `flywheel init` printed."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        """Authorization for the admin token."""
        return {"Authorization": f"Bearer {self.token}"}


def wait_ready(server: Server, seconds: float = 60) -> None:
    """Block until /readyz answers 200."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("flywheel serve exited during start-up")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("flywheel serve did not become ready")


@contextmanager
def running_server(database_url: str, home: Path, workers: int = 1) -> Iterator[Server]:
    """`flywheel init`, then `flywheel serve` on a free port until the block ends."""
    env = {
        **os.environ,
        "FLYWHEEL_HOME": str(home),
        "FLYWHEEL_DATABASE_URL": database_url,
        "FLYWHEEL_LOG_LEVEL": "warning",
    }
    home.mkdir(parents=True, exist_ok=True)
    init = subprocess.run([*FLYWHEEL, "init"], env=env, capture_output=True, text=True, check=True)
    token = init.stdout.strip().splitlines()[-1]
    port = free_port()
    command = [*FLYWHEEL, "serve", "--port", str(port), "--workers", str(workers)]
    with (home / "serve.log").open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        server = Server(f"http://127.0.0.1:{port}", token, process, home / "serve.log")
        try:
            wait_ready(server)
            yield server
        finally:
            process.terminate()
            process.wait(timeout=60)
