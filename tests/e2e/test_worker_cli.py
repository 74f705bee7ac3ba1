"""`flywheel worker`: beats, refuses a second process of its name, stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time

from sqlalchemy import select

from flywheel.db import Database
from flywheel.workers.models import WorkerProcess
from tests.e2e.conftest import FLYWHEEL, Cli


def _row(db: Database, name: str) -> WorkerProcess | None:
    with db.session() as session:
        return session.scalar(select(WorkerProcess).where(WorkerProcess.id == name))


def _wait_for(predicate: object, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_beats_refuses_a_namesake_and_stops_on_sigterm(cli: Cli, db: Database) -> None:
    cli("init")
    env = {**cli.env, "FLYWHEEL_WORKER_HEARTBEAT_S": "0.5"}
    worker = subprocess.Popen(
        [*FLYWHEEL, "worker", "--name", "worker-a"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: _row(db, "worker-a") is not None, "the worker's heartbeat row")
        first = _row(db, "worker-a")
        assert first is not None and first.role == "worker" and first.pid == worker.pid
        _wait_for(
            lambda: (
                (row := _row(db, "worker-a")) is not None and row.last_seen_at > first.last_seen_at
            ),
            "a second heartbeat",
        )

        twin = subprocess.run(
            [*FLYWHEEL, "worker", "--name", "worker-a", "--no-upgrade"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert twin.returncode == 1
        assert "FLYWHEEL_WORKER_NAME" in twin.stdout and "Traceback" not in twin.stderr

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=45) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    stopped = _row(db, "worker-a")
    assert stopped is not None and stopped.stopped_at is not None
