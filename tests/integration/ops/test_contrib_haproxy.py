"""contrib/haproxy/flywheel.cfg in front of two real `flywheel serve` processes.

The tests in this module share one HAProxy and two API processes; the SIGKILL test runs
last because it leaves one of them dead. Each test talks from its own loopback address, so
the per-address rate limit of one test never counts another's requests.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest

from flywheel.deploy.drivers.haproxy import HaproxyLoadBalancer, haproxy_binary
from tests.deploy_support import child_env, require_haproxy, wait_until
from tests.support import free_port

CONFIG = Path(__file__).resolve().parents[3] / "contrib" / "haproxy" / "flywheel.cfg"
FLYWHEEL = [sys.executable, "-m", "flywheel"]
BACKEND = "flywheel_api"
RATE = 100  # FLYWHEEL_LB_RATE: requests per address per 10 s
ANONYMOUS_BURST = 3  # Flywheel's per-address burst, per API process
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")


def lb_env(socket_path: Path, bind: str, api_ports: tuple[int, int]) -> dict[str, str]:
    """The variables flywheel.cfg expects."""
    return {
        **os.environ,
        "FLYWHEEL_LB_BIND": bind,
        "FLYWHEEL_API_1": f"127.0.0.1:{api_ports[0]}",
        "FLYWHEEL_API_2": f"127.0.0.1:{api_ports[1]}",
        "FLYWHEEL_LB_SOCKET": str(socket_path),
        "FLYWHEEL_LB_RATE": str(RATE),
    }


def check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`haproxy -c -f contrib/haproxy/flywheel.cfg` with the given environment."""
    require_haproxy()
    binary = haproxy_binary()
    assert binary is not None
    return subprocess.run(
        [binary, "-c", "-f", str(CONFIG)], env=env, capture_output=True, text=True, timeout=30
    )


@dataclass
class Stack:
    """HAProxy on flywheel.cfg and the two API processes behind it."""

    url: str
    token: str
    apis: list[subprocess.Popen[bytes]]
    lb: HaproxyLoadBalancer

    def client(self, source: str) -> httpx.Client:
        """A client whose connections come from `source` (a 127.0.0.0/8 address)."""
        transport = httpx.HTTPTransport(local_address=source)
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url, transport=transport, headers=headers, timeout=15)

    def servers(self) -> dict[str, dict[str, str]]:
        """HAProxy's statistics per API server, from its admin socket."""
        rows = self.lb.stat_rows(BACKEND)
        return {row["svname"]: row for row in rows if row["svname"].startswith("api")}

    def answered(self) -> dict[str, int]:
        """2xx answers each API server has given so far."""
        return {name: int(row["hrsp_2xx"] or 0) for name, row in self.servers().items()}


def _flywheel_env(home: Path) -> dict[str, str]:
    return {
        **child_env(),
        "FLYWHEEL_HOME": str(home),
        "FLYWHEEL_DATABASE_URL": f"sqlite:///{home / 'flywheel.db'}",
        "FLYWHEEL_LOG_LEVEL": "warning",
        "FLYWHEEL_WARM_INDEXES": "false",
        "FLYWHEEL_SLO_ALERT_MINUTES": "0",
        "FLYWHEEL_PROBLEM_WORKER_SECONDS": "0",
        "FLYWHEEL_NOTIFY_WORKER_INTERVAL_S": "0",
        # Flywheel's own per-address limit for callers without a token, small enough to hit.
        "FLYWHEEL_RATE_LIMIT_ANONYMOUS_BURST": str(ANONYMOUS_BURST),
        "FLYWHEEL_RATE_LIMIT_ANONYMOUS_PER_S": "0.01",
    }


def _start_api(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*FLYWHEEL, "serve", "--api-only", "--port", str(port), "--no-upgrade"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _up_or_exited(port: int, process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is not None or _ready(port)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_haproxy()
    work = tmp_path_factory.mktemp("lb")
    env = _flywheel_env(work / "home")
    init = subprocess.run(
        [*FLYWHEEL, "init"], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    token = init.stdout.strip().splitlines()[-1]
    ports = (free_port(), free_port())
    apis = [_start_api(env, port, work / f"api{i + 1}.log") for i, port in enumerate(ports)]
    haproxy: subprocess.Popen[bytes] | None = None
    try:
        for i, (port, api) in enumerate(zip(ports, apis, strict=True)):
            wait_until(partial(_up_or_exited, port, api), timeout_s=60, what=f"api{i + 1}")
            assert api.poll() is None, (work / f"api{i + 1}.log").read_text()
        socket_path = work / "lb.sock"
        front = free_port()
        with (work / "haproxy.log").open("ab") as log:
            haproxy = subprocess.Popen(
                [str(haproxy_binary()), "-f", str(CONFIG), "-db"],
                env=lb_env(socket_path, f"127.0.0.1:{front}", ports),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        built = Stack(
            f"http://127.0.0.1:{front}", token, apis, HaproxyLoadBalancer(str(socket_path))
        )
        wait_until(lambda: socket_path.exists(), timeout_s=10, what="the admin socket")
        wait_until(
            lambda: all(row["status"] == "UP" for row in built.servers().values()),
            timeout_s=15,
            what="both API servers UP in HAProxy",
        )
        yield built
    finally:
        if haproxy is not None:
            _stop(haproxy)
        for api in apis:
            _stop(api)


def test_config_is_valid_with_the_documented_variables(tmp_path: Path) -> None:
    env = lb_env(tmp_path / "lb.sock", "127.0.0.1:8080", (8001, 8002))
    checked = check_config(env)
    assert checked.returncode == 0, checked.stderr
    assert "WARNING" not in checked.stderr and "ALERT" not in checked.stderr, checked.stderr


def test_config_accepts_a_tls_bind_line(tmp_path: Path) -> None:
    pem = tmp_path / "flywheel.pem"
    key, cert = str(pem), str(tmp_path / "c.pem")
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    made = subprocess.run(
        [*openssl, "-subj", "/CN=flywheel.test", "-keyout", key, "-out", cert],
        capture_output=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    pem.write_text((tmp_path / "c.pem").read_text() + pem.read_text())
    bind = f"127.0.0.1:8443 ssl crt {pem} alpn h2,http/1.1"
    checked = check_config(lb_env(tmp_path / "lb.sock", bind, (8001, 8002)))
    assert checked.returncode == 0, checked.stderr


def test_config_refuses_a_missing_variable(tmp_path: Path) -> None:
    env = lb_env(tmp_path / "lb.sock", "127.0.0.1:8080", (8001, 8002))
    del env["FLYWHEEL_LB_RATE"]
    assert check_config(env).returncode != 0


def test_env_example_sets_exactly_the_variables_the_config_reads() -> None:
    used = set(re.findall(r"\$\{(FLYWHEEL_[A-Z0-9_]+)", CONFIG.read_text().split("\nglobal")[1]))
    example = CONFIG.parent / "flywheel-lb.env.example"
    active = re.findall(r"^(FLYWHEEL_[A-Z0-9_]+)=", example.read_text(), flags=re.M)
    assert used == {f"FLYWHEEL_{n}" for n in ("LB_BIND", "API_1", "API_2", "LB_SOCKET", "LB_RATE")}
    assert set(active) == used


def test_readyz_through_haproxy(stack: Stack) -> None:
    with stack.client("127.0.0.1") as client:
        answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ready"


def test_requests_are_spread_over_both_api_processes(stack: Stack) -> None:
    before = stack.answered()
    with stack.client("127.0.0.1") as client:
        answers = [client.get("/api/v1/me") for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 20
    assert {a.json()["username"] for a in answers} == {"admin"}
    after = stack.answered()
    served = {name: after[name] - before.get(name, 0) for name in after}
    assert set(served) == {"api1", "api2"}
    assert sum(served.values()) == 20
    assert min(served.values()) >= 5, served


def test_request_ids_are_given_or_kept(stack: Stack) -> None:
    with stack.client("127.0.0.1") as client:
        given = client.get("/api/v1/me")
        kept = client.get("/api/v1/me", headers={"X-Request-ID": "caller-chose-this"})
    assert UUID.match(given.headers["x-request-id"]), given.headers
    assert kept.headers["x-request-id"] == "caller-chose-this"


def test_metrics_only_from_private_networks(stack: Stack) -> None:
    with stack.client("127.0.0.1") as inside:
        scraped = inside.get("/metrics")
    assert scraped.status_code == 200
    assert "flywheel_process_start_time_seconds" in scraped.text
    with stack.client("127.0.0.2") as outside:  # not in the ACL: only 127.0.0.1 is
        refused = [outside.get(path) for path in ("/metrics", "/%6detrics", "/metrics?x=1")]
        still = outside.get("/api/v1/me")
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert still.status_code == 200


def test_per_address_limit_answers_429_with_retry_after(stack: Stack) -> None:
    with stack.client("127.0.0.3") as client:
        allowed = [client.get("/healthz").status_code for _ in range(RATE)]
        limited = client.get("/healthz")
    with stack.client("127.0.0.5") as other:
        unaffected = other.get("/healthz")
    assert allowed == [200] * RATE
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "10"
    assert limited.json()["error"]["code"] == "rate_limited"
    assert unaffected.status_code == 200


def test_flywheel_sees_the_client_address_not_a_forged_one(stack: Stack) -> None:
    """HAProxy sends the client's address in X-Forwarded-For; uvicorn trusts it from 127.0.0.1.

    A forged header is dropped by HAProxy (and uvicorn would take the rightmost untrusted
    address anyway), so it never borrows another address's budget.
    """

    def anonymous(source: str, headers: dict[str, str] | None = None) -> httpx.Response:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as client:
            return client.get(f"{stack.url}/api/v1/me", headers=headers, timeout=15)

    spent = [anonymous("127.0.0.6") for _ in range(2 * ANONYMOUS_BURST + 2)]
    limited = [a for a in spent if a.status_code == 429]
    assert limited, [a.status_code for a in spent]
    assert "too many requests: try again" in limited[0].json()["error"]["message"]  # Flywheel's
    assert anonymous("127.0.0.7").status_code == 401  # another address has its own budget
    forged = anonymous("127.0.0.8", {"X-Forwarded-For": "127.0.0.6"})
    assert forged.status_code == 401  # not counted as 127.0.0.6


def test_keeps_serving_when_an_api_process_is_killed(stack: Stack) -> None:
    """Runs last in this module: api1 stays dead afterwards."""
    statuses: list[int] = []  # 0: no answer at all
    killed = threading.Event()
    after_kill: list[int] = []

    def traffic(source: str) -> None:
        with stack.client(source) as client:
            for _ in range(100):
                try:
                    status = client.get("/api/v1/me").status_code
                except httpx.TransportError:
                    status = 0  # HAProxy closed the connection without an answer
                (after_kill if killed.is_set() else statuses).append(status)

    senders = [threading.Thread(target=traffic, args=(f"127.0.0.{10 + i}",)) for i in range(4)]
    for sender in senders:
        sender.start()
    wait_until(lambda: len(statuses) >= 40, timeout_s=30, what="traffic before the kill")
    stack.apis[0].send_signal(signal.SIGKILL)  # mid-traffic: requests are in flight
    killed.set()
    stack.apis[0].wait(timeout=10)
    for sender in senders:
        sender.join(timeout=60)
    assert set(statuses) == {200}
    assert len(after_kill) >= 100
    assert set(after_kill) == {200}, sorted(after_kill)
    wait_until(
        lambda: stack.servers()["api1"]["status"].startswith("DOWN"),
        timeout_s=10,
        what="HAProxy's health check to mark the killed process DOWN",
    )
    assert stack.servers()["api2"]["status"] == "UP"
