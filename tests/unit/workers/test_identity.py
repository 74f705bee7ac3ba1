"""When another process counts as dead, and who this one is (pure)."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from flywheel.workers.identity import Identity, Role, Seen, identify, pid_alive, why_dead

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ME = Identity("host-a:100:aaaa", "host-a", 100, Role.WORKER)
DEAD_AFTER = timedelta(seconds=30)


def _seen(**changes: object) -> Seen:
    fields: dict[str, object] = {
        "executor_id": "host-b:200:bbbb",
        "hostname": "host-b",
        "pid": 200,
        "last_seen_at": NOW - timedelta(seconds=5),
        "stopped_at": None,
    }
    fields.update(changes)
    return Seen(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seen", "pid_is_alive", "expected"),
    [
        (_seen(), True, None),
        (_seen(last_seen_at=NOW - timedelta(seconds=30)), True, None),
        (_seen(last_seen_at=NOW - timedelta(seconds=31)), True, "no heartbeat for 31 s"),
        (_seen(stopped_at=NOW - timedelta(seconds=1)), True, "stopped"),
        (_seen(hostname="host-a", pid=300), False, "process 300 is gone from this host"),
        (_seen(hostname="host-a", pid=300), True, None),
        # a pid on another host says nothing about this host's process table
        (_seen(hostname="host-b"), False, None),
        (_seen(executor_id=ME.executor_id, stopped_at=NOW), False, None),
    ],
)
def test_why_a_peer_is_dead(seen: Seen, pid_is_alive: bool, expected: str | None) -> None:
    assert why_dead(seen, now=NOW, dead_after=DEAD_AFTER, me=ME, pid_alive=pid_is_alive) == expected


def test_an_unnamed_process_gets_a_new_executor_id_each_start() -> None:
    first, second = identify(Role.ALL), identify(Role.ALL)
    assert first.executor_id != second.executor_id
    assert first.executor_id.startswith(f"{first.hostname}:{os.getpid()}:")
    assert first.role is Role.ALL


def test_a_named_process_keeps_its_name() -> None:
    assert identify(Role.WORKER, "worker-1").executor_id == "worker-1"


def test_pid_alive_tells_a_live_process_from_a_gone_one() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(2**22 + 12345)  # above Linux's pid_max default: never a process


def test_a_killed_process_not_yet_reaped_is_not_alive() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        deadline = time.monotonic() + 10
        while pid_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(child.pid)  # a zombie until the wait below reaps it
        assert child.poll() is not None
    finally:
        child.kill()
        child.wait()
