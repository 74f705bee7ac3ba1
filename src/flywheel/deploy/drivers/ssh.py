"""Instances on remote hosts, controlled by configured shell commands run over SSH (asyncssh).

Commands may use the placeholders {version}, {port}, {host} and {key}; their values are
shell-quoted. `version` prints the running version (empty output or a non-zero exit: stopped);
`health` exits 0 when healthy. The methods are synchronous (the Target protocol): they run on
a private event loop thread that keeps one SSH connection per host open between calls.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncssh

from flywheel.deploy.drivers.base import DriverError, Instance

PLACEHOLDER = re.compile(r"\{(version|port|host|key)\}")
T = TypeVar("T")


@dataclass(frozen=True)
class SshCommands:
    """The shell commands that control an instance on its host."""

    start: str
    stop: str
    health: str
    version: str
    install: str | None = None

    @classmethod
    def from_mapping(cls, commands: Mapping[str, str | None]) -> SshCommands:
        """Read them from settings; DriverError names any missing one."""
        missing = [n for n in ("start", "stop", "health", "version") if not commands.get(n)]
        if missing:
            raise DriverError(f"the ssh target needs commands: {', '.join(missing)}")
        unknown = set(commands) - {"start", "stop", "health", "version", "install"}
        if unknown:
            raise DriverError(f"unknown ssh target commands: {', '.join(sorted(unknown))}")
        return cls(
            start=str(commands["start"]),
            stop=str(commands["stop"]),
            health=str(commands["health"]),
            version=str(commands["version"]),
            install=commands.get("install") or None,
        )


@dataclass(frozen=True)
class CommandResult:
    """What a remote command did."""

    exit_status: int | None
    stdout: str
    stderr: str


def render(template: str, instance: Instance, version: str | None = None) -> str:
    """The command with its placeholders replaced by shell-quoted values."""
    values = {
        "version": version or "",
        "port": str(instance.port),
        "host": instance.host,
        "key": instance.key,
    }
    return PLACEHOLDER.sub(lambda m: shlex.quote(values[m.group(1)]), template)


class _LoopThread:
    """An asyncio loop on a daemon thread, for calling coroutines from synchronous code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="ssh-target", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class SshTarget:
    """A Target that runs the configured commands on each instance's host over SSH."""

    def __init__(
        self,
        commands: SshCommands,
        *,
        username: str | None = None,
        port: int = 22,
        client_keys: Sequence[str | asyncssh.SSHKey] | None = None,
        known_hosts: str | tuple[()] | None = (),
        connect_timeout_s: float = 10.0,
        command_timeout_s: float = 60.0,
    ) -> None:
        """client_keys: key files or keys already loaded (from the credential store).

        known_hosts: a file, () for ~/.ssh/known_hosts, or None to skip host key checks.
        """
        self.commands = commands
        self.username = username
        self.port = port
        self.client_keys = list(client_keys) if client_keys is not None else None
        self.known_hosts = known_hosts
        self.connect_timeout_s = connect_timeout_s
        self.command_timeout_s = command_timeout_s
        self._loop: _LoopThread | None = None
        self._loop_lock = threading.Lock()
        self._connections: dict[tuple[str, int, str | None], asyncssh.SSHClientConnection] = {}

    def _address(self, instance: Instance) -> tuple[str, int, str | None]:
        port = instance.attributes.get("ssh_port")
        return (
            instance.host,
            int(port) if port else self.port,
            instance.attributes.get("ssh_user", self.username),
        )

    async def _connect(self, address: tuple[str, int, str | None]) -> asyncssh.SSHClientConnection:
        cached = self._connections.get(address)
        if cached is not None and not cached.is_closed():
            return cached
        host, port, username = address
        options: dict[str, Any] = {"port": port, "known_hosts": self.known_hosts}
        if username:
            options["username"] = username
        if self.client_keys is not None:
            options["client_keys"] = self.client_keys
        connection = await asyncio.wait_for(
            asyncssh.connect(host, **options), timeout=self.connect_timeout_s
        )
        self._connections[address] = connection
        return connection

    async def _run(self, instance: Instance, command: str, timeout_s: float) -> CommandResult:
        address = self._address(instance)
        where = f"{address[2] + '@' if address[2] else ''}{address[0]}:{address[1]}"
        try:
            connection = await self._connect(address)
            completed = await connection.run(command, check=False, timeout=timeout_s)
        except asyncssh.TimeoutError:
            raise DriverError(f"ssh {where}: {command!r} ran over {timeout_s:g}s") from None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            self._connections.pop(address, None)
            reason = str(exc) or type(exc).__name__
            raise DriverError(f"ssh {where}: cannot run {command!r}: {reason}") from None
        return CommandResult(
            completed.exit_status, _text(completed.stdout), _text(completed.stderr)
        )

    def run(
        self, instance: Instance, command: str, *, timeout_s: float | None = None
    ) -> CommandResult:
        """Run one shell command on the instance's host."""
        with self._loop_lock:
            if self._loop is None:
                self._loop = _LoopThread()
            loop = self._loop
        return loop.run(self._run(instance, command, timeout_s or self.command_timeout_s))

    def _checked(self, instance: Instance, what: str, command: str, timeout_s: float) -> None:
        result = self.run(instance, command, timeout_s=timeout_s)
        if result.exit_status != 0:
            detail = (result.stderr or result.stdout).strip()[-500:]
            raise DriverError(
                f"{what} of {instance.key} on {instance.host} exited {result.exit_status}: {detail}"
            )

    def running_version(self, instance: Instance) -> str | None:
        """What the `version` command prints, or None when it prints nothing or fails."""
        result = self.run(instance, render(self.commands.version, instance))
        version = result.stdout.strip()
        return version if result.exit_status == 0 and version else None

    def healthy(self, instance: Instance) -> bool:
        """Whether the `health` command exits 0."""
        try:
            result = self.run(instance, render(self.commands.health, instance), timeout_s=10.0)
        except DriverError:
            return False
        return result.exit_status == 0

    def stop(self, instance: Instance, *, timeout_s: float) -> None:
        """Run the `stop` command (it must succeed when already stopped)."""
        command = render(self.commands.stop, instance)
        self._checked(instance, "stop", command, timeout_s + 5.0)

    def start(self, instance: Instance, *, version: str) -> None:
        """No-op when the version runs; else install (if configured), stop and start it."""
        if self.running_version(instance) == version:
            return
        if self.commands.install:
            install = render(self.commands.install, instance, version)
            self._checked(instance, "install", install, self.command_timeout_s)
        self.stop(instance, timeout_s=self.command_timeout_s)
        start = render(self.commands.start, instance, version)
        self._checked(instance, "start", start, self.command_timeout_s)

    def close(self) -> None:
        """Close the SSH connections and the loop thread."""
        with self._loop_lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        loop.run(self._close_connections())
        loop.close()

    async def _close_connections(self) -> None:
        connections = list(self._connections.values())
        self._connections.clear()
        for connection in connections:
            connection.close()
            await connection.wait_closed()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return "" if value is None else str(value)
