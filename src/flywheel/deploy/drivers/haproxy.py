"""HAProxy through its runtime API (the `stats socket … level admin`), plus a config and a process.

`HaproxyLoadBalancer` drains, disables and enables servers and reads `show stat` and
`show servers state`. `HaproxyConfig` renders a haproxy.cfg for one backend on loopback and
`HaproxyProcess` runs `haproxy -f cfg -db` until stopped (tests, the benchmark and the demo).
"""

from __future__ import annotations

import csv
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from flywheel.deploy.drivers.base import DriverError, ServerStats

NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")  # HAProxy proxy/server names; also blocks `;` and newlines
MAINT_FLAGS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # forced, inherited, config, resolution, hostname
DRAIN_FLAGS = 0x08 | 0x10  # forced, inherited
OP_RUNNING = 2


@dataclass(frozen=True)
class ServerState:
    """One server's line of `show servers state`."""

    backend: str
    server: str
    address: str
    port: int | None
    op_state: int
    admin_state: int

    @property
    def in_maintenance(self) -> bool:
        """Out of rotation (maint)."""
        return bool(self.admin_state & MAINT_FLAGS)

    @property
    def draining(self) -> bool:
        """Taking no new sessions (drain)."""
        return bool(self.admin_state & DRAIN_FLAGS)

    @property
    def running(self) -> bool:
        """Health checks see it up."""
        return self.op_state == OP_RUNNING


def _checked_name(kind: str, name: str) -> str:
    if not NAME.match(name):
        raise DriverError(f"invalid HAProxy {kind} name {name!r}")
    return name


def _int(value: str | None) -> int:
    return int(value) if value else 0


class HaproxyLoadBalancer:
    """A LoadBalancer over HAProxy's runtime API: a UNIX socket path or "host:port"."""

    def __init__(self, address: str, *, timeout_s: float = 2.0) -> None:
        self.address = address
        self.timeout_s = timeout_s

    def _connect(self) -> socket.socket:
        host, _, port = self.address.rpartition(":")
        if "/" not in self.address and host and port.isdigit():
            return socket.create_connection((host, int(port)), timeout=self.timeout_s)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout_s)
        try:
            sock.connect(self.address)
        except OSError:
            sock.close()
            raise
        return sock

    def command(self, line: str) -> str:
        """Send one runtime API command and return HAProxy's whole answer."""
        try:
            with self._connect() as sock:
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except FileNotFoundError:
            raise DriverError(
                f"HAProxy runtime socket {self.address} does not exist: is HAProxy running "
                "with `stats socket … level admin`?"
            ) from None
        except ConnectionRefusedError:
            raise DriverError(
                f"HAProxy runtime API at {self.address} refuses connections"
            ) from None
        except TimeoutError:
            raise DriverError(
                f"HAProxy runtime API at {self.address} did not answer {line!r} "
                f"within {self.timeout_s:g}s"
            ) from None
        except OSError as exc:
            raise DriverError(f"HAProxy runtime API at {self.address}: {exc}") from None
        return b"".join(chunks).decode(errors="replace")

    def _refused(self, line: str, answer: str) -> DriverError:
        reason = answer.strip().splitlines()[0] if answer.strip() else "no answer"
        return DriverError(f"HAProxy at {self.address} refused {line!r}: {reason}")

    def set_state(self, backend: str, server: str, state: str) -> None:
        """`set server backend/server state ready|drain|maint` (idempotent in HAProxy)."""
        line = (
            f"set server {_checked_name('backend', backend)}/{_checked_name('server', server)}"
            f" state {_checked_name('state', state)}"
        )
        answer = self.command(line)
        if answer.strip():
            raise self._refused(line, answer)

    def drain(self, backend: str, server: str) -> None:
        """Stop sending new sessions to the server; existing ones finish."""
        self.set_state(backend, server, "drain")

    def disable(self, backend: str, server: str) -> None:
        """Take the server out of rotation entirely (maint)."""
        self.set_state(backend, server, "maint")

    def enable(self, backend: str, server: str) -> None:
        """Put the server back in rotation (ready).

        HAProxy counts a server leaving maint as UP at once, before any health check: call this
        only after the instance answers its own health check.
        """
        self.set_state(backend, server, "ready")

    def stat_rows(self, backend: str) -> list[dict[str, str]]:
        """The raw `show stat` rows of the backend's servers (no FRONTEND/BACKEND rows)."""
        line = f"show stat {_checked_name('backend', backend)} 4 -1"
        answer = self.command(line)
        if not answer.startswith("# "):
            raise self._refused(line, answer)
        lines = [text for text in answer[2:].splitlines() if text.strip()]
        return [row for row in csv.DictReader(lines) if row.get("svname") != "BACKEND"]

    def stats(self, backend: str) -> list[ServerStats]:
        """Counters of every server of the backend."""
        return [
            ServerStats(
                server=row["svname"],
                status=row["status"],
                sessions=_int(row.get("scur")),
                total_sessions=_int(row.get("stot")),
                responses_2xx=_int(row.get("hrsp_2xx")),
                responses_5xx=_int(row.get("hrsp_5xx")),
                connection_errors=_int(row.get("econ")),
                response_errors=_int(row.get("eresp")),
                latency_ms=float(row["rtime"]) if row.get("rtime") else None,
            )
            for row in self.stat_rows(backend)
        ]

    def server_stats(self, backend: str, server: str) -> ServerStats:
        """Counters of one server; DriverError when the backend has no such server."""
        for stats in self.stats(backend):
            if stats.server == server:
                return stats
        raise DriverError(f"HAProxy backend {backend!r} has no server {server!r}")

    def active_sessions(self, backend: str, server: str) -> int:
        """Sessions the server still has open."""
        return self.server_stats(backend, server).sessions

    def servers_state(self, backend: str) -> list[ServerState]:
        """`show servers state backend`: operational and administrative state per server."""
        line = f"show servers state {_checked_name('backend', backend)}"
        answer = self.command(line)
        lines = answer.splitlines()
        if not lines or lines[0].strip() != "1":
            raise self._refused(line, answer)
        header: list[str] = []
        states = []
        for text in lines[1:]:
            if text.startswith("# "):
                header = text[2:].split()
            elif text.strip() and header:
                row = dict(zip(header, text.split(), strict=False))
                port = row.get("srv_port", "")
                states.append(
                    ServerState(
                        backend=row["be_name"],
                        server=row["srv_name"],
                        address=row["srv_addr"],
                        port=int(port) if port.isdigit() else None,
                        op_state=int(row["srv_op_state"]),
                        admin_state=int(row["srv_admin_state"]),
                    )
                )
        return states


@dataclass(frozen=True)
class Backend:
    """A backend server line: name and loopback address."""

    name: str
    port: int
    host: str = "127.0.0.1"


@dataclass
class HaproxyConfig:
    """A haproxy.cfg for one HTTP frontend and backend with an admin runtime socket."""

    socket_path: Path
    frontend_port: int
    servers: list[Backend]
    backend: str = "storefront"
    bind_host: str = "127.0.0.1"
    keep_alive: bool = False  # False: `option http-server-close` (a new server connection each)
    retries: int = 3
    health_path: str = "/healthz"
    check_interval_ms: int = 1000
    fall: int = 2
    rise: int = 1
    connect_timeout_ms: int = 2000
    client_timeout_ms: int = 30000
    server_timeout_ms: int = 30000
    maxconn: int = 4096
    nbthread: int | None = None
    extra_global_lines: list[str] = field(default_factory=list)
    extra_backend_lines: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The configuration text."""
        _checked_name("backend", self.backend)
        server_lines = [
            f"    server {_checked_name('server', s.name)} {s.host}:{s.port} check"
            for s in self.servers
        ]
        threads = [f"    nbthread {self.nbthread}"] if self.nbthread else []
        connection_mode = "http-keep-alive" if self.keep_alive else "http-server-close"
        lines = [
            "global",
            f"    maxconn {self.maxconn}",
            f"    stats socket {self.socket_path} mode 600 level admin",
            "    stats timeout 30s",
            *threads,
            *(f"    {line}" for line in self.extra_global_lines),
            "",
            "defaults",
            "    mode http",
            "    option redispatch",
            f"    retries {self.retries}",
            f"    option {connection_mode}",
            f"    timeout connect {self.connect_timeout_ms}ms",
            f"    timeout client {self.client_timeout_ms}ms",
            f"    timeout server {self.server_timeout_ms}ms",
            "    timeout http-keep-alive 10s",
            "    timeout queue 5s",
            "    timeout check 1s",
            "",
            "frontend web",
            f"    bind {self.bind_host}:{self.frontend_port}",
            f"    default_backend {self.backend}",
            "",
            f"backend {self.backend}",
            "    balance roundrobin",
            f"    option httpchk GET {self.health_path}",
            "    http-check expect status 200",
            f"    default-server inter {self.check_interval_ms}ms"
            f" fall {self.fall} rise {self.rise}",
            *(f"    {line}" for line in self.extra_backend_lines),
            *server_lines,
            "",
        ]
        return "\n".join(lines)


def haproxy_binary() -> str | None:
    """Path of the haproxy executable (PATH, then Debian's /usr/sbin), or None."""
    found = shutil.which("haproxy")
    if found:
        return found
    return "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None


class HaproxyProcess:
    """`haproxy -f cfg -db` in the foreground of a child process, ready when its socket answers."""

    def __init__(self, config: HaproxyConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.config_path = workdir / "haproxy.cfg"
        self.log_path = workdir / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def load_balancer(self) -> HaproxyLoadBalancer:
        """A driver on this process's runtime socket."""
        return HaproxyLoadBalancer(str(self.config.socket_path))

    def start(self, *, timeout_s: float = 10.0) -> HaproxyProcess:
        """Write the config, start HAProxy and wait until its runtime API answers."""
        binary = haproxy_binary()
        if binary is None:
            raise DriverError("haproxy is not installed (Debian package `haproxy`)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config.render())
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "-f", str(self.config_path), "-db"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise DriverError(f"haproxy exited at start: {self._log_tail()}")
            try:
                if "Name: HAProxy" in self.load_balancer.command("show info"):
                    return self
            except DriverError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise DriverError(f"haproxy did not answer within {timeout_s:g}s")
            time.sleep(0.02)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """Stop HAProxy (SIGTERM, then SIGKILL); no-op when not running."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> HaproxyProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
