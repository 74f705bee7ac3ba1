"""The local target with real storefront processes: idempotent start/stop, state across objects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.deploy.drivers.base import DriverError, Instance
from flywheel.deploy.drivers.local import LocalTarget, process_alive
from tests.deploy_support import child_env, storefront, wait_until
from tests.support import free_port


def new_target(state_dir: Path, **options: object) -> LocalTarget:
    return LocalTarget(state_dir, env=child_env(), **options)  # type: ignore[arg-type]


@pytest.fixture
def target(tmp_path: Path) -> Iterator[LocalTarget]:
    local = new_target(tmp_path / "state")
    yield local
    local.stop_all(timeout_s=2)


@pytest.fixture
def instance() -> Instance:
    return Instance("web-1", "127.0.0.1", free_port(), lb_server="s1")


def pid_of(target: LocalTarget, instance: Instance) -> int:
    record = target.record(instance)
    assert record is not None
    return record.pid


def wait_healthy(target: LocalTarget, instance: Instance) -> None:
    wait_until(lambda: target.healthy(instance), what=f"{instance.key} healthy")


def test_start_twice_stop_twice(target: LocalTarget, instance: Instance) -> None:
    assert target.running_version(instance) is None
    assert not target.healthy(instance)
    target.start(instance, version="1.0.0")
    target.start(instance, version="1.0.0")  # not answering yet: still the same process
    pid = pid_of(target, instance)
    wait_healthy(target, instance)
    assert target.running_version(instance) == "1.0.0"
    target.start(instance, version="1.0.0")
    assert pid_of(target, instance) == pid

    target.stop(instance, timeout_s=5)
    assert not process_alive(pid)
    assert target.running_version(instance) is None
    assert not target.healthy(instance)
    assert target.record(instance) is None
    target.stop(instance, timeout_s=5)  # already stopped: no-op


def test_start_another_version_replaces_the_process(
    target: LocalTarget, instance: Instance
) -> None:
    target.start(instance, version="1.0.0")
    wait_healthy(target, instance)
    old = pid_of(target, instance)
    target.start(instance, version="1.1.0")
    assert not process_alive(old)
    wait_healthy(target, instance)
    assert target.running_version(instance) == "1.1.0"
    assert pid_of(target, instance) != old


def test_a_new_target_object_on_the_state_dir_controls_the_instance(
    tmp_path: Path, target: LocalTarget, instance: Instance
) -> None:
    target.start(instance, version="1.0.0")
    wait_healthy(target, instance)
    pid = pid_of(target, instance)

    later = new_target(tmp_path / "state")  # e.g. a Flywheel process restarted after a kill
    assert later.running_version(instance) == "1.0.0"
    later.start(instance, version="1.0.0")
    assert pid_of(later, instance) == pid
    later.stop(instance, timeout_s=5)
    assert not process_alive(pid)
    assert target.running_version(instance) is None


def test_a_new_python_process_sees_and_stops_the_instance(
    tmp_path: Path, target: LocalTarget, instance: Instance
) -> None:
    target.start(instance, version="1.0.0")
    wait_healthy(target, instance)
    pid = pid_of(target, instance)
    script = (
        "import sys; from flywheel.deploy.drivers.local import LocalTarget;"
        "from flywheel.deploy.drivers.base import Instance;"
        f"t = LocalTarget({str(tmp_path / 'state')!r});"
        f"i = Instance('web-1', '127.0.0.1', {instance.port});"
        "print(t.running_version(i)); t.stop(i, timeout_s=5); print(t.running_version(i))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=child_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1.0.0", "None"]
    wait_until(lambda: not process_alive(pid), what="instance gone")


def test_a_killed_instance_reads_as_stopped_and_starts_again(
    target: LocalTarget, instance: Instance
) -> None:
    target.start(instance, version="1.0.0")
    wait_healthy(target, instance)
    pid = pid_of(target, instance)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: target.record(instance) is None, what="killed instance gone")
    assert target.running_version(instance) is None
    target.start(instance, version="1.0.0")
    wait_healthy(target, instance)
    assert pid_of(target, instance) != pid


def test_faulty_versions_get_the_fault_arguments(target: LocalTarget, instance: Instance) -> None:
    assert "--fail-rate" not in target.command_for(instance, "1.0.0")
    assert target.command_for(instance, "1.1.0-faulty")[-2:] == ["--fail-rate", "0.2"]
    custom = new_target(target.state_dir, version_args={"2.0": ["--startup-delay", "1"]})
    assert custom.command_for(instance, "2.0")[-2:] == ["--startup-delay", "1"]
    assert custom.command_for(instance, "2.0")[:2] == [sys.executable, "-m"]

    target.start(instance, version="1.1.0-faulty")
    wait_healthy(target, instance)
    record = target.record(instance)
    assert record is not None and record.command[-2:] == ["--fail-rate", "0.2"]
    state = json.loads((target.state_dir / "web-1.json").read_text())
    assert state["version"] == "1.1.0-faulty" and state["port"] == instance.port


def test_stop_forces_a_process_that_ignores_sigterm(tmp_path: Path, instance: Instance) -> None:
    stubborn = new_target(
        tmp_path / "state",
        command=[
            "{python}",
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
        ],
    )
    stubborn.start(instance, version="1")
    pid = pid_of(stubborn, instance)
    wait_until(lambda: "SIG_IGN" in Path(f"/proc/{pid}/cmdline").read_text(), what="child exec")
    stubborn.stop(instance, timeout_s=0.3)
    assert not process_alive(pid)


def test_a_port_held_by_a_foreign_process_is_refused(target: LocalTarget) -> None:
    with storefront("0.9") as foreign:
        busy = Instance("web-2", "127.0.0.1", foreign.port)
        assert target.running_version(busy) is None  # not ours
        with pytest.raises(DriverError, match="is taken by a process this target did not start"):
            target.start(busy, version="1.0.0")


def test_an_instance_started_but_never_recorded_is_replaced(
    target: LocalTarget, instance: Instance
) -> None:
    """Flywheel killed between spawning an instance and writing its record."""
    target.start(instance, version="1.0.0")
    pid = pid_of(target, instance)
    wait_healthy(target, instance)
    for record in target.state_dir.glob("*.json"):
        record.unlink()
    assert target.record(instance) is None

    target.start(instance, version="2.0.0")
    assert not process_alive(pid)
    wait_healthy(target, instance)
    assert target.running_version(instance) == "2.0.0"


def test_a_missing_executable_is_a_driver_error(tmp_path: Path, instance: Instance) -> None:
    broken = new_target(tmp_path / "state", command="/nonexistent/bin/shop --port {port}")
    with pytest.raises(DriverError, match="cannot start web-1: /nonexistent/bin/shop"):
        broken.start(instance, version="1")


def test_a_version_that_crashes_never_turns_healthy(
    target: LocalTarget, instance: Instance
) -> None:
    crashing = new_target(target.state_dir, version_args={"bad": ["--no-such-flag"]})
    crashing.start(instance, version="bad")
    pid = pid_of(crashing, instance)
    wait_until(lambda: not process_alive(pid), what="crash")
    assert not crashing.healthy(instance)
    assert crashing.running_version(instance) is None
    assert "unrecognized arguments: --no-such-flag" in crashing.log_path(instance).read_text()
