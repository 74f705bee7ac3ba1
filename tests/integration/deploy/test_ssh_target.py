"""The SSH target against a real sshd on loopback, controlling real storefront processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.deploy.drivers.base import DriverError, Instance
from flywheel.deploy.drivers.ssh import SshCommands, SshTarget
from tests.deploy_support import SRC, Sshd, sshd, wait_until
from tests.support import free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Sshd]:
    with sshd(tmp_path / "sshd") as running:
        yield running


def storefront_commands(remote: Path) -> SshCommands:
    """Shell commands that run the storefront on the 'remote' host, as an operator would."""
    py, pidfile, release = (
        sys.executable,
        f"{remote}/shop-{{port}}.pid",
        f"{remote}/releases/{{version}}",
    )
    url = "http://127.0.0.1:{port}/%s"
    fetch = f"{py} -c \"import urllib.request as u; print(u.urlopen('{url}').read().decode())\""
    read_version = f"{py} -c 'import json, sys; print(json.load(sys.stdin)[\"version\"])'"
    return SshCommands(
        install=f"mkdir -p {release} && echo {{version}} > {release}/VERSION",
        start=(
            f"PYTHONPATH={SRC} setsid nohup {py} -m flywheel.demo.storefront --host 127.0.0.1"
            f" --port {{port}} --version {{version}} > {remote}/shop-{{port}}.log 2>&1"
            f" < /dev/null & echo $! > {pidfile}"
        ),
        stop=(
            f"pid=$(cat {pidfile} 2>/dev/null) || exit 0; kill $pid 2>/dev/null; "
            # wait until gone; a zombie (exited, not yet reaped by init) counts as gone
            "for i in $(seq 100); do ps -o stat= -p $pid | grep -q '^[^Z]' || break; "
            "sleep 0.05; done; "
            f"kill -9 $pid 2>/dev/null; rm -f {pidfile}; exit 0"
        ),
        health=fetch % "healthz" + " > /dev/null",
        version=fetch % "version" + f" | {read_version}",
    )


def target_for(server: Sshd, commands: SshCommands, **options: object) -> SshTarget:
    return SshTarget(
        commands,
        username=server.user,
        port=server.port,
        client_keys=[str(server.client_key)],
        known_hosts=str(server.known_hosts),
        **options,  # type: ignore[arg-type]
    )


def remote_pid(remote: Path, port: int) -> str:
    return (remote / f"shop-{port}.pid").read_text().strip()


def test_start_health_version_replace_and_stop_over_ssh(server: Sshd, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    target = target_for(server, storefront_commands(remote))
    web = Instance("web-1", "127.0.0.1", free_port())
    try:
        assert target.running_version(web) is None
        assert not target.healthy(web)

        target.start(web, version="1.0.0")
        wait_until(lambda: target.healthy(web), timeout_s=15, what="healthy over ssh")
        assert target.running_version(web) == "1.0.0"
        assert (remote / "releases" / "1.0.0" / "VERSION").read_text() == "1.0.0\n"
        first = remote_pid(remote, web.port)

        target.start(web, version="1.0.0")  # already runs it: no-op
        assert remote_pid(remote, web.port) == first

        target.start(web, version="1.1.0")
        wait_until(lambda: target.running_version(web) == "1.1.0", timeout_s=15, what="1.1.0")
        assert remote_pid(remote, web.port) != first

        target.stop(web, timeout_s=5)
        target.stop(web, timeout_s=5)  # already stopped
        assert target.running_version(web) is None
        assert not target.healthy(web)
    finally:
        target.stop(web, timeout_s=5)
        target.close()


def test_a_failing_command_raises_with_its_output(server: Sshd) -> None:
    commands = SshCommands(
        start="echo 'no such release {version}' >&2; exit 3",
        stop="true",
        health="false",
        version="true",  # prints nothing: stopped
    )
    target = target_for(server, commands)
    try:
        with pytest.raises(
            DriverError, match=r"start of web-1 on 127\.0\.0\.1 exited 3: no such release 2\.0"
        ):
            target.start(Instance("web-1", "127.0.0.1", 8080), version="2.0")
        assert not target.healthy(Instance("web-1", "127.0.0.1", 8080))
    finally:
        target.close()


def test_values_are_shell_quoted_on_the_host(server: Sshd, tmp_path: Path) -> None:
    marker, written = tmp_path / "injected", tmp_path / "installed"
    commands = SshCommands(
        install=f"printf %s {{version}} > {written}",
        start="true",
        stop="true",
        health="true",
        version="true",
    )
    target = target_for(server, commands)
    hostile = f"1.0; touch {marker}"
    try:
        target.start(Instance("w", "127.0.0.1", 1), version=hostile)
    finally:
        target.close()
    assert written.read_text() == hostile
    assert not marker.exists()


def test_a_command_that_runs_too_long_times_out(server: Sshd) -> None:
    commands = SshCommands(start="sleep 5", stop="true", health="true", version="true")
    target = target_for(server, commands, command_timeout_s=0.5)
    try:
        with pytest.raises(DriverError, match=r"ran over 0\.5s"):
            target.start(Instance("w", "127.0.0.1", 1), version="1")
    finally:
        target.close()


def test_unreachable_host_raises(tmp_path: Path) -> None:
    commands = SshCommands(start="true", stop="true", health="true", version="true")
    target = SshTarget(commands, port=free_port(), known_hosts=None, connect_timeout_s=2)
    web = Instance("web-1", "127.0.0.1", 8080)
    try:
        with pytest.raises(DriverError, match=r"ssh 127\.0\.0\.1:\d+: cannot run"):
            target.running_version(web)
        assert not target.healthy(web)
    finally:
        target.close()


def test_an_unknown_host_key_is_refused(server: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts"
    other.write_text(
        f"[127.0.0.1]:{server.port} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    commands = SshCommands(start="true", stop="true", health="true", version="true")
    target = SshTarget(
        commands,
        username=server.user,
        port=server.port,
        client_keys=[str(server.client_key)],
        known_hosts=str(other),
    )
    try:
        with pytest.raises(DriverError, match="cannot run"):
            target.running_version(Instance("w", "127.0.0.1", 1))
    finally:
        target.close()
