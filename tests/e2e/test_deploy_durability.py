"""Kill `flywheel serve` in the middle of a rolling bounce: a new process finishes the run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy_support import LoadGenerator, describe_pool, running_pool
from tests.e2e.conftest import FLYWHEEL, Cli, _wait_ready
from tests.support import free_port

FINAL = {"succeeded", "rolled_back", "failed", "aborted"}


class Flywheel:
    """A `flywheel serve` that the test can kill and start again on the same database."""

    def __init__(self, cli: Cli) -> None:
        self.env = cli.env
        self.token = cli("init").stdout.strip().splitlines()[-1]
        self.url = ""
        self.process: subprocess.Popen[str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self) -> None:
        port = free_port()
        self.process = subprocess.Popen(
            [*FLYWHEEL, "serve", "--port", str(port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{port}"
        _wait_ready(self.url, self.process)

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def get(self, path: str) -> Any:
        return httpx.get(f"{self.url}/api/v1{path}", headers=self.headers, timeout=10).json()

    def send(self, method: str, path: str, body: Any) -> httpx.Response:
        url = f"{self.url}/api/v1{path}"
        return httpx.request(method, url, json=body, headers=self.headers, timeout=30)


@pytest.fixture
def flywheel(cli: Cli) -> Iterator[Flywheel]:
    server = Flywheel(cli)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _wait(fw: Flywheel, deployment_id: int, done: Any, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            run = fw.get(f"/deployments/{deployment_id}")
            if done(run):
                return run
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"deployment {deployment_id} did not get there: {run['state']}")


@pytest.mark.parametrize(
    ("kill_batch", "kill_action"),
    [(0, "start"), (1, "wait_drained"), (2, "bake")],
)
def test_a_killed_server_resumes_the_run_and_no_request_fails(
    flywheel: Flywheel, tmp_path: Path, kill_batch: int, kill_action: str
) -> None:
    with running_pool(tmp_path / "pool", size=3, version="v1") as pool:
        describe_pool(pool, flywheel.url, flywheel.headers)
        with LoadGenerator(pool.frontend_port) as load:
            body = {
                "pool": "shop-pool",
                "version": "v2",
                "environment": "staging",
                "settings": {"batch_size": 1, "bake_s": 1.5, "health_timeout_s": 20},
            }
            answer = flywheel.send("POST", "/deployments", body)
            assert answer.status_code == 201, answer.text
            run_id = answer.json()["id"]

            def reached(run: Any) -> bool:
                return any(
                    s["batch"] == kill_batch and s["action"] == kill_action for s in run["steps"]
                )

            _wait(flywheel, run_id, reached)
            flywheel.kill()
            time.sleep(0.5)
            flywheel.start()
            run = _wait(flywheel, run_id, lambda r: r["state"] in FINAL)
        assert run["state"] == "succeeded", run["status_reason"]
        assert {pool.target.running_version(i) for i in pool.instances} == {"v2"}
        stats = pool.haproxy.load_balancer.stats(pool.backend)
        assert all(s.status.startswith("UP") for s in stats), stats
        assert load.result.failed == 0, load.result.failures
        assert load.result.ok > 50
        seqs = [s["seq"] for s in run["steps"]]
        assert seqs == sorted(set(seqs)), "every step recorded once"
        deploy_steps = [s for s in run["steps"] if s["phase"] == "deploy"]
        assert len(deploy_steps) == 3 * 9
        assert all(s["state"] == "done" for s in deploy_steps)
