"""The HAProxy driver's protocol handling against a scripted runtime-API socket, and its config."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.deploy.drivers.base import DriverError
from flywheel.deploy.drivers.haproxy import Backend, HaproxyConfig, HaproxyLoadBalancer

STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,econ,eresp,status,hrsp_2xx,hrsp_5xx,rtime,\n"
    "web,s1,0,0,3,9,,120,1,2,UP,110,7,12,\n"
    "web,s2,0,0,0,4,,80,0,0,DRAIN,80,0,,\n"
    "\n"
)
SERVERS_STATE = (
    "1\n"
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
    "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port\n"
    "3 web 1 s1 127.0.0.1 2 0 1 1 5 6 3 4 6 0 0 0 - 8001\n"
    "3 web 2 s2 127.0.0.1 0 1 1 1 5 6 3 4 6 0 0 0 - 8002\n"
    "3 web 3 s3 127.0.0.1 2 8 1 1 5 6 3 4 6 0 0 0 - 8003\n"
)


class ScriptedRuntime:
    """A UNIX socket that answers each command line from a script, one command per connection."""

    def __init__(self, path: Path, answers: dict[str, str], delay_s: float = 0.0) -> None:
        self.answers, self.delay_s = answers, delay_s
        self.received: list[str] = []
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                line = conn.recv(4096).decode().rstrip("\n")
                self.received.append(line)
                time.sleep(self.delay_s)
                answer = self.answers.get(line, f"Unknown command: '{line}'\n")
                with contextlib.suppress(OSError):  # the client may have given up (timeout test)
                    conn.sendall(answer.encode())

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ScriptedRuntime]:
    scripted = ScriptedRuntime(
        tmp_path / "rt.sock",
        {
            "show stat web 4 -1": STAT,
            "show servers state web": SERVERS_STATE,
            "set server web/s1 state drain": "\n",
            "set server web/zz state drain": "No such server.\n\n",
        },
    )
    yield scripted
    scripted.close()


@pytest.fixture
def lb(tmp_path: Path, runtime: ScriptedRuntime) -> HaproxyLoadBalancer:
    return HaproxyLoadBalancer(str(tmp_path / "rt.sock"), timeout_s=1.0)


def test_stats_parse_show_stat_csv(lb: HaproxyLoadBalancer) -> None:
    s1, s2 = lb.stats("web")
    assert (s1.server, s1.status, s1.sessions, s1.total_sessions) == ("s1", "UP", 3, 120)
    assert (s1.responses_2xx, s1.responses_5xx, s1.connection_errors, s1.response_errors) == (
        110,
        7,
        1,
        2,
    )
    assert s1.latency_ms == 12.0
    assert (s2.status, s2.sessions, s2.latency_ms) == ("DRAIN", 0, None)
    assert lb.active_sessions("web", "s1") == 3


def test_servers_state_reads_op_and_admin_state(lb: HaproxyLoadBalancer) -> None:
    s1, s2, s3 = lb.servers_state("web")
    assert (s1.server, s1.port, s1.running, s1.in_maintenance, s1.draining) == (
        "s1",
        8001,
        True,
        False,
        False,
    )
    assert (s2.running, s2.in_maintenance) == (False, True)
    assert (s3.running, s3.draining, s3.in_maintenance) == (True, True, False)


def test_set_state_sends_the_command_and_accepts_an_empty_answer(
    lb: HaproxyLoadBalancer, runtime: ScriptedRuntime
) -> None:
    lb.drain("web", "s1")
    assert runtime.received == ["set server web/s1 state drain"]


def test_error_lines_raise(lb: HaproxyLoadBalancer) -> None:
    with pytest.raises(
        DriverError, match=r"refused 'set server web/zz state drain': No such server\."
    ):
        lb.drain("web", "zz")
    with pytest.raises(DriverError, match="Unknown command"):
        lb.disable("web", "s1")  # not scripted: answered "Unknown command"
    with pytest.raises(DriverError, match="Unknown command"):
        lb.stats("other")
    with pytest.raises(DriverError, match="Unknown command"):
        lb.servers_state("other")


def test_a_silent_runtime_api_times_out(tmp_path: Path) -> None:
    slow = ScriptedRuntime(tmp_path / "slow.sock", {"show stat web 4 -1": STAT}, delay_s=2.0)
    try:
        started = time.monotonic()
        with pytest.raises(DriverError, match=r"did not answer 'show stat web 4 -1' within 0\.2s"):
            HaproxyLoadBalancer(str(tmp_path / "slow.sock"), timeout_s=0.2).stats("web")
        assert time.monotonic() - started < 1.5
    finally:
        slow.close()


def test_config_renders_one_backend_with_checks_and_an_admin_socket(tmp_path: Path) -> None:
    config = HaproxyConfig(
        socket_path=tmp_path / "admin.sock",
        frontend_port=8080,
        servers=[Backend("s1", 8001), Backend("s2", 8002)],
        backend="shop",
    )
    text = config.render()
    assert f"stats socket {tmp_path / 'admin.sock'} mode 600 level admin" in text
    assert "bind 127.0.0.1:8080" in text
    assert "default_backend shop" in text
    assert "option httpchk GET /healthz" in text
    assert "default-server inter 1000ms fall 2 rise 1" in text
    assert "option redispatch" in text and "retries 3" in text
    assert "option http-server-close" in text
    assert "server s1 127.0.0.1:8001 check" in text and "server s2 127.0.0.1:8002 check" in text
    assert (
        "option http-keep-alive"
        in HaproxyConfig(tmp_path / "a.sock", 1, [], keep_alive=True).render()
    )


def test_config_rejects_names_that_would_break_it(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="invalid HAProxy server name"):
        HaproxyConfig(tmp_path / "a.sock", 1, [Backend("s 1", 8001)]).render()
