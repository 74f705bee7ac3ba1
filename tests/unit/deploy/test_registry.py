"""Drivers by name from settings, and the settings they refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flywheel.deploy.drivers.base import DriverError, Instance
from flywheel.deploy.drivers.haproxy import HaproxyLoadBalancer
from flywheel.deploy.drivers.local import STOREFRONT_COMMAND, LocalTarget
from flywheel.deploy.drivers.no_balancer import NoLoadBalancer
from flywheel.deploy.drivers.registry import load_balancer_for, rollout_for, target_for
from flywheel.deploy.drivers.ssh import SshCommands, SshTarget, render
from flywheel.errors import InvalidInput

COMMANDS = {"start": "start {version}", "stop": "stop", "health": "check", "version": "cat v"}


def test_haproxy_load_balancer() -> None:
    lb = load_balancer_for({"driver": "haproxy", "socket": "/run/haproxy.sock", "timeout_s": 0.5})
    assert isinstance(lb, HaproxyLoadBalancer)
    assert (lb.address, lb.timeout_s) == ("/run/haproxy.sock", 0.5)


def test_no_load_balancer_does_nothing_and_reports_nothing() -> None:
    lb = load_balancer_for({"driver": "none"})
    assert isinstance(lb, NoLoadBalancer)
    lb.drain("be", "s1")
    lb.disable("be", "s1")
    lb.enable("be", "s1")
    assert lb.active_sessions("be", "s1") == 0
    assert lb.stats("be") == []


def test_local_target(tmp_path: Path) -> None:
    target = target_for(
        {
            "driver": "local",
            "state_dir": str(tmp_path),
            "version_args": {"2.0": ["--startup-delay", "1"]},
            "env": {"SHOP_MODE": "demo"},
        }
    )
    assert isinstance(target, LocalTarget)
    assert target.state_dir == tmp_path
    assert target.env == {"SHOP_MODE": "demo"}
    argv = target.command_for(Instance("w", "127.0.0.1", 8001), "2.0")
    assert argv[1:] == [
        "-m",
        "flywheel.demo.storefront",
        "--host",
        "127.0.0.1",
        "--port",
        "8001",
        "--version",
        "2.0",
        "--startup-delay",
        "1",
    ]
    assert STOREFRONT_COMMAND.startswith("{python}")


def test_ssh_target() -> None:
    target = target_for(
        {
            "driver": "ssh",
            "commands": {**COMMANDS, "install": "fetch {version}"},
            "username": "deploy",
            "port": 2222,
            "client_keys": ["/keys/id_ed25519"],
            "known_hosts": "/keys/known_hosts",
        }
    )
    assert isinstance(target, SshTarget)
    assert target.commands.install == "fetch {version}"
    assert (target.username, target.port, target.known_hosts) == (
        "deploy",
        2222,
        "/keys/known_hosts",
    )
    unchecked = target_for({"driver": "ssh", "commands": COMMANDS, "verify_host_keys": False})
    assert isinstance(unchecked, SshTarget) and unchecked.known_hosts is None


@pytest.mark.parametrize(
    ("build", "config", "message"),
    [
        (load_balancer_for, {}, "need a 'driver' \\(one of: haproxy, none\\)"),
        (load_balancer_for, {"driver": "nginx"}, "unknown load balancer driver 'nginx'"),
        (load_balancer_for, {"driver": "haproxy"}, "the haproxy load balancer needs 'socket'"),
        (
            load_balancer_for,
            {"driver": "haproxy", "socket": "/s", "sock": 1},
            "unknown load balancer settings: sock",
        ),
        (
            load_balancer_for,
            {"driver": "haproxy", "socket": "/s", "timeout_s": "2"},
            "'timeout_s' has the wrong type",
        ),
        (
            load_balancer_for,
            {"driver": "none", "socket": "/s"},
            "unknown load balancer settings: socket",
        ),
        (load_balancer_for, ["haproxy"], "must be an object"),
        (
            target_for,
            {"driver": "docker"},
            "unknown target driver 'docker' \\(known: local, ssh\\)",
        ),
        (target_for, {"driver": "kubernetes"}, "configure it as a rollout"),
        (target_for, {"driver": "local"}, "the local target needs 'state_dir'"),
        (target_for, {"driver": "local", "state_dir": "/x", "command": ""}, "command is empty"),
        (
            target_for,
            {"driver": "local", "state_dir": "/x", "command": 5},
            "'command' has the wrong type",
        ),
        (target_for, {"driver": "ssh"}, "needs 'commands'"),
        (
            target_for,
            {"driver": "ssh", "commands": {"start": "s"}},
            "needs commands: stop, health, version",
        ),
        (
            target_for,
            {"driver": "ssh", "commands": {**COMMANDS, "restart": "r"}},
            "unknown ssh target commands: restart",
        ),
        (
            target_for,
            {"driver": "ssh", "commands": COMMANDS, "port": "22"},
            "'port' has the wrong type",
        ),
        (
            target_for,
            {"driver": "ssh", "commands": COMMANDS, "password": "x"},
            "unknown target settings: password",
        ),
        (rollout_for, {"driver": "kubernetes", "deployment": "shop"}, "needs 'namespace'"),
        (
            rollout_for,
            {"driver": "kubernetes", "namespace": "p", "deployment": "s", "kubeconfig": "/missing"},
            "cannot load the Kubernetes configuration",
        ),
    ],
)
def test_bad_settings_are_invalid_input(build: Any, config: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build(config)


def test_ssh_placeholders_are_shell_quoted() -> None:
    web = Instance("web 1", "10.0.0.5", 8080)
    command = render(
        "deploy {version} --port {port} --on {host} --as {key} {other}", web, "1.0; rm -rf /"
    )
    assert command == "deploy '1.0; rm -rf /' --port 8080 --on 10.0.0.5 --as 'web 1' {other}"


def test_ssh_commands_from_mapping_name_what_is_missing() -> None:
    with pytest.raises(DriverError, match="needs commands: start, version"):
        SshCommands.from_mapping({"stop": "x", "health": "y"})
    assert SshCommands.from_mapping({**COMMANDS, "install": ""}).install is None
