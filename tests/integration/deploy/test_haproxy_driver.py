"""The HAProxy driver against a real HAProxy and real storefronts (runtime API socket)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.deploy.drivers.base import DriverError
from flywheel.deploy.drivers.haproxy import HaproxyConfig, HaproxyLoadBalancer, HaproxyProcess
from tests.deploy_support import (
    LoadGenerator,
    Storefront,
    haproxy,
    require_haproxy,
    storefront,
    wait_until,
)
from tests.support import free_port

BACKEND = "storefront"


@pytest.fixture
def shops() -> Iterator[tuple[Storefront, Storefront]]:
    with storefront("1.0.0") as first, storefront("1.0.0") as second:
        yield first, second


@pytest.fixture
def proxy(tmp_path: Path, shops: tuple[Storefront, Storefront]) -> Iterator[HaproxyProcess]:
    with haproxy(tmp_path, {"s1": shops[0].port, "s2": shops[1].port}) as process:
        wait_until(
            lambda: all(s.status.startswith("UP") for s in process.load_balancer.stats(BACKEND)),
            what="both servers UP",
        )
        yield process


def test_show_stat_counts_requests_per_server(proxy: HaproxyProcess) -> None:
    lb = proxy.load_balancer
    with LoadGenerator(proxy.config.frontend_port) as load:
        wait_until(lambda: load.total() >= 40, what="40 requests")
    stats = {s.server: s for s in lb.stats(BACKEND)}
    assert set(stats) == {"s1", "s2"}
    answered = load.result.ok
    assert load.result.failed == 0
    assert sum(s.responses_2xx for s in stats.values()) == answered
    for server in stats.values():
        assert server.status.startswith("UP")
        assert server.total_sessions >= answered // 2 - 2  # round robin
        assert server.responses_5xx == 0
        assert server.sessions == 0
        assert server.latency_ms is not None and server.latency_ms >= 0
    assert lb.active_sessions(BACKEND, "s1") == 0


def test_show_stat_counts_5xx(tmp_path: Path) -> None:
    with (
        storefront("2.0-faulty", "--fail-rate", "0.5") as shop,
        haproxy(tmp_path, {"bad": shop.port}) as proxy,
    ):
        with LoadGenerator(proxy.config.frontend_port) as load:
            wait_until(lambda: load.total() >= 20, what="20 requests")
        (stats,) = proxy.load_balancer.stats(BACKEND)
    assert stats.responses_5xx == load.result.failures["http 500"]
    assert stats.responses_5xx >= 9
    assert stats.responses_2xx == load.result.ok


def test_drain_maint_ready_show_in_stats_and_server_state(proxy: HaproxyProcess) -> None:
    lb = proxy.load_balancer

    def status(server: str) -> str:
        return lb.server_stats(BACKEND, server).status

    lb.drain(BACKEND, "s1")
    lb.drain(BACKEND, "s1")  # idempotent
    assert status("s1") == "DRAIN"
    (s1,) = [s for s in lb.servers_state(BACKEND) if s.server == "s1"]
    assert s1.draining and not s1.in_maintenance and s1.running
    assert s1.address == "127.0.0.1" and s1.port == proxy.config.servers[0].port

    lb.disable(BACKEND, "s1")
    lb.disable(BACKEND, "s1")
    assert status("s1") == "MAINT"
    (s1,) = [s for s in lb.servers_state(BACKEND) if s.server == "s1"]
    assert s1.in_maintenance and not s1.running

    lb.enable(BACKEND, "s1")
    lb.enable(BACKEND, "s1")
    assert status("s1").startswith("UP")
    states = {s.server: s for s in lb.servers_state(BACKEND)}
    assert not states["s1"].in_maintenance and not states["s1"].draining
    assert states["s2"].running


def test_drained_server_gets_no_new_requests(proxy: HaproxyProcess) -> None:
    lb = proxy.load_balancer
    lb.drain(BACKEND, "s1")
    before = lb.server_stats(BACKEND, "s1").total_sessions
    with LoadGenerator(proxy.config.frontend_port) as load:
        wait_until(lambda: load.total() >= 30, what="30 requests")
    assert load.result.failed == 0
    assert lb.server_stats(BACKEND, "s1").total_sessions == before


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda lb: lb.drain(BACKEND, "nosuch"), "No such server"),
        (lambda lb: lb.enable("nosuch", "s1"), "No such backend"),
        (lambda lb: lb.stats("nosuch"), "No such proxy"),
        (lambda lb: lb.servers_state("nosuch"), "Can't find backend"),
        (lambda lb: lb.active_sessions(BACKEND, "nosuch"), "has no server 'nosuch'"),
        (
            lambda lb: lb.set_state(BACKEND, "s1", "sideways"),
            "expects 'ready', 'drain' and 'maint'",
        ),
        (
            lambda lb: lb.drain(BACKEND, "s1;shutdown sessions server"),
            "invalid HAProxy server name",
        ),
        (lambda lb: lb.stats("be\nshow info"), "invalid HAProxy backend name"),
    ],
)
def test_refused_commands_raise_driver_error(
    proxy: HaproxyProcess, call: object, message: str
) -> None:
    with pytest.raises(DriverError, match=message):
        call(proxy.load_balancer)  # type: ignore[operator]


def test_missing_socket_raises(tmp_path: Path) -> None:
    lb = HaproxyLoadBalancer(str(tmp_path / "nothing.sock"))
    with pytest.raises(DriverError, match=r"nothing\.sock does not exist"):
        lb.stats(BACKEND)


def test_socket_nobody_listens_on_raises(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))  # a socket file left behind by a dead HAProxy
    with pytest.raises(DriverError, match="refuses connections"):
        HaproxyLoadBalancer(str(path)).drain(BACKEND, "s1")


def test_runtime_api_over_tcp(tmp_path: Path, shops: tuple[Storefront, Storefront]) -> None:
    port = free_port()
    tcp_socket = f"stats socket ipv4@127.0.0.1:{port} level admin"
    with haproxy(tmp_path, {"s1": shops[0].port}, extra_global_lines=[tcp_socket]):
        lb = HaproxyLoadBalancer(f"127.0.0.1:{port}")
        lb.drain(BACKEND, "s1")
        assert lb.server_stats(BACKEND, "s1").status == "DRAIN"


def test_tcp_address_with_nothing_listening_raises() -> None:
    with pytest.raises(DriverError, match="refuses connections"):
        HaproxyLoadBalancer(f"127.0.0.1:{free_port()}").stats(BACKEND)


def test_a_bad_config_fails_to_start_with_haproxy_s_message(tmp_path: Path) -> None:
    require_haproxy()
    config = HaproxyConfig(tmp_path / "admin.sock", 1, [], extra_backend_lines=["no-such-keyword"])
    with pytest.raises(
        DriverError, match=r"(?s)haproxy exited at start: .*unknown keyword 'no-such-keyword'"
    ):
        HaproxyProcess(config, tmp_path).start()
