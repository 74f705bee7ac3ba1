"""Real processes for deploy tests: storefront instances, HAProxy, sshd and a load generator.

Everything here is a context manager that stops what it started, so fixtures can wrap them.
"""

from __future__ import annotations

import contextlib
import getpass
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import httpx

from flywheel.deploy.drivers.base import Instance
from flywheel.deploy.drivers.haproxy import Backend, HaproxyConfig, HaproxyProcess, haproxy_binary
from flywheel.deploy.drivers.local import LocalTarget, http_get
from tests.support import free_port, require_component

SRC = Path(__file__).resolve().parents[1] / "src"


def child_env() -> dict[str, str]:
    """The environment for child Python processes: this tree's sources first."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{path}" if path else str(SRC)}


def wait_until(predicate: Callable[[], bool], *, timeout_s: float = 10.0, what: str = "") -> None:
    """Poll until predicate() is true; AssertionError naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what or predicate}")
        time.sleep(0.02)


def healthy(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a storefront answers 200 on /healthz."""
    answer = http_get(host, port, "/healthz", timeout_s=0.5)
    return answer is not None and answer[0] == 200


@dataclass
class Storefront:
    """One storefront process started directly (not through a target)."""

    port: int
    version: str
    process: subprocess.Popen[bytes]

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> int:
        """Signal it and wait; SIGKILL when it does not exit in time. Its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


@contextlib.contextmanager
def storefront(
    version: str = "1.0.0", *args: str, port: int | None = None, log: Path | None = None
) -> Iterator[Storefront]:
    """A running, healthy storefront on loopback; stopped afterwards."""
    port = port or free_port()
    argv = [sys.executable, "-m", "flywheel.demo.storefront", "--port", str(port)]
    output = log.open("ab") if log else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            [*argv, "--version", version, *args],
            env=child_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if log:
            output.close()  # type: ignore[union-attr]
    shop = Storefront(port, version, process)
    try:
        wait_until(lambda: healthy(port) or process.poll() is not None, what="storefront")
        assert process.poll() is None, f"storefront exited with {process.returncode}"
        yield shop
    finally:
        shop.stop(signal.SIGKILL)


def require_haproxy() -> None:
    """Skip (fail in CI) without the haproxy binary."""
    require_component(haproxy_binary() is not None, "haproxy is not installed (apt haproxy)")


@contextlib.contextmanager
def haproxy(workdir: Path, servers: dict[str, int], **options: object) -> Iterator[HaproxyProcess]:
    """A running HAProxy balancing the named loopback ports; stopped afterwards."""
    require_haproxy()
    config = HaproxyConfig(
        socket_path=workdir / "admin.sock",
        frontend_port=free_port(),
        servers=[Backend(name, port) for name, port in servers.items()],
        **options,  # type: ignore[arg-type]
    )
    process = HaproxyProcess(config, workdir)
    with process:
        yield process


@dataclass(frozen=True)
class Pool:
    """Local storefront instances behind a real HAProxy backend."""

    target: LocalTarget
    instances: list[Instance]
    haproxy: HaproxyProcess
    backend: str

    @property
    def frontend_port(self) -> int:
        return self.haproxy.config.frontend_port


@contextlib.contextmanager
def running_pool(
    workdir: Path, size: int = 3, version: str = "1.0.0", **options: object
) -> Iterator[Pool]:
    """`size` instances (web-N on free ports, HAProxy servers sN) started by a LocalTarget,
    all UP in HAProxy; every process stopped afterwards."""
    require_haproxy()
    target = LocalTarget(workdir / "instances", env=child_env())
    instances = [
        Instance(f"web-{n}", "127.0.0.1", free_port(), lb_server=f"s{n}")
        for n in range(1, size + 1)
    ]
    try:
        for instance in instances:
            target.start(instance, version=version)
        wait_until(lambda: all(target.healthy(i) for i in instances), what="pool healthy")
        servers = {i.lb_server or "": i.port for i in instances}
        with haproxy(workdir / "haproxy", servers, **options) as process:
            backend = process.config.backend
            lb = process.load_balancer
            wait_until(lambda: all(s.status.startswith("UP") for s in lb.stats(backend)), what="UP")
            yield Pool(target, instances, process, backend)
    finally:
        target.stop_all(timeout_s=2)


@dataclass
class LoadResult:
    """What a load generator saw."""

    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


class LoadGenerator:
    """Background threads sending GETs through a port: keep-alive and new connections mixed."""

    def __init__(self, port: int, *, path: str = "/api/products", pause_s: float = 0.005) -> None:
        self.port, self.path, self.pause_s = port, path, pause_s
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(keep_alive,), daemon=True)
            for keep_alive in (True, False)
        ]

    def _record(self, outcome: str, version: str | None = None) -> None:
        with self._lock:
            if outcome == "ok":
                self.result.ok += 1
                if version:
                    self.result.versions[version] += 1
            else:
                self.result.failures[outcome] += 1

    def _run(self, keep_alive: bool) -> None:
        connection: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                connection.request("GET", self.path)
                response = connection.getresponse()
                response.read()
                version = response.getheader("x-storefront-version")
                ok = 200 <= response.status < 300
                self._record("ok" if ok else f"http {response.status}", version)
                if not keep_alive or response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as exc:
                self._record(type(exc).__name__)
                if connection is not None:
                    connection.close()
                connection = None
            time.sleep(self.pause_s)
        if connection is not None:
            connection.close()

    def __enter__(self) -> LoadGenerator:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def total(self) -> int:
        """Requests answered or failed so far."""
        with self._lock:
            return self.result.ok + self.result.failed


@dataclass(frozen=True)
class Sshd:
    """A running sshd on loopback that accepts the test's client key for the current user."""

    port: int
    user: str
    client_key: Path
    known_hosts: Path


def sshd_binary() -> str | None:
    """Path of OpenSSH's sshd, or None."""
    found = shutil.which("sshd")
    if found:
        return found
    return "/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None


def _write_key(path: Path) -> str:
    """Write a new ed25519 private key; return its public key line."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    path.chmod(0o600)
    return key.export_public_key().decode().strip()


@contextlib.contextmanager
def sshd(workdir: Path) -> Iterator[Sshd]:
    """sshd -D on a free loopback port with a throwaway host key and authorized client key."""
    binary = sshd_binary()
    require_component(binary is not None, "sshd is not installed (apt openssh-server)")
    assert binary is not None
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    host_public = _write_key(workdir / "host_key")
    (workdir / "authorized_keys").write_text(_write_key(workdir / "client_key") + "\n")
    (workdir / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_public}\n")
    config = workdir / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {workdir / 'host_key'}\n"
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}\nPidFile {workdir / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nLogLevel ERROR\n"
    )
    with (workdir / "sshd.log").open("ab") as log:
        process = subprocess.Popen(
            [binary, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until(lambda: _listening(port) or process.poll() is not None, what="sshd")
        log_text = (workdir / "sshd.log").read_text()
        require_component(process.poll() is None, f"sshd cannot run here: {log_text}")
        yield Sshd(port, getpass.getuser(), workdir / "client_key", workdir / "known_hosts")
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def describe_pool(pool: Pool, url: str, headers: dict[str, str], min_up: str = "2") -> None:
    """Describe the pool in a running Flywheel's CMDB (shop, shop-pool) with a staging env."""
    socket = str(pool.haproxy.config.socket_path)
    deploy = {
        "load_balancer": {"driver": "haproxy", "socket": socket, "backend": pool.backend},
        "target": {"driver": "local", "state_dir": str(pool.target.state_dir)},
    }
    cis: list[dict[str, object]] = [
        {"key": "shop", "name": "Shop", "type": "business_service"},
        {
            "key": "shop-pool",
            "name": "Pool",
            "type": "service_pool",
            "min_up": min_up,
            "attributes": {"deploy": deploy},
        },
    ]
    cis += [
        {
            "key": i.key,
            "name": i.key,
            "type": "instance",
            "attributes": {"port": i.port, "lb_server": i.lb_server},
        }
        for i in pool.instances
    ]
    rels = [{"source": "shop", "type": "depends_on", "target": "shop-pool"}]
    rels += [{"source": i.key, "type": "member_of", "target": "shop-pool"} for i in pool.instances]
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=30) as client:
        answer = client.post("/cmdb/import", json={"cis": cis, "relationships": rels})
        assert answer.status_code == 200, answer.text
        answer = client.put("/environments/staging", json={"rank": 1})
        assert answer.status_code == 200, answer.text
