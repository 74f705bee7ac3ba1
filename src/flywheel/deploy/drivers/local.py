"""Instances as local processes started from a command template (the embedded default target).

A state directory keeps one JSON record per instance (pid, its start time, version, port)
and its log, so a new Flywheel process — after the one that started an instance was
killed — still finds and controls it. Instances run in their own session (process group).
Each instance also carries a marker in its environment, so one started by a Flywheel process
killed before it wrote the record is still found (on Linux, through /proc) and not mistaken
for a foreign process on the port.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flywheel.deploy.drivers.base import DriverError, Instance

STOREFRONT_COMMAND = (
    "{python} -m flywheel.demo.storefront --host {host} --port {port} --version {version}"
)
FAULTY_ARGS = ("--fail-rate", "0.2")
PLACEHOLDER = re.compile(r"\{(python|host|port|version|key)\}")
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # started by this process: poll() reaps them
INSTANCE_MARKER = "FLYWHEEL_LOCAL_INSTANCE"


@dataclass(frozen=True)
class InstanceRecord:
    """What the state directory knows about one started instance."""

    key: str
    host: str
    port: int
    pid: int
    version: str
    start_ticks: int | None
    command: list[str]
    started_at: str


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None when there is no such pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return text.rsplit(")", 1)[1].split()


def _start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot), to tell it from a reused pid."""
    try:
        fields = _proc_stat(pid)
    except OSError:
        return None
    return int(fields[19]) if fields else None


def process_alive(pid: int, start_ticks: int | None = None) -> bool:
    """Whether the process runs (not a zombie) and is the one that started at start_ticks."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]
        return False
    try:
        fields = _proc_stat(pid)
    except OSError:  # no /proc: fall back to a signal-0 probe
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if fields is None:
        return False
    if fields[0] in ("Z", "X"):
        # A killed multi-threaded process shows its leader as a zombie while its other threads
        # still exit and its sockets are still open: it is gone only once it is the last task.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            return len(os.listdir(f"/proc/{pid}/task")) > 1
        except OSError:
            return False
    return start_ticks is None or int(fields[19]) == start_ticks


def http_get(host: str, port: int, path: str, *, timeout_s: float) -> tuple[int, bytes] | None:
    """Status and body of GET http://host:port/path, or None when nothing answers in time."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def marked_processes(marker: str) -> list[int]:
    """Pids whose environment holds INSTANCE_MARKER=marker (empty without a readable /proc)."""
    wanted = f"{INSTANCE_MARKER}={marker}".encode()
    found = []
    with contextlib.suppress(OSError), os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                environ = Path(entry.path, "environ").read_bytes()
            except OSError:
                continue
            if wanted in environ.split(b"\0"):
                found.append(int(entry.name))
    return found


def _port_taken(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class LocalTarget:
    """A Target whose instances are local processes on the instances' ports."""

    def __init__(
        self,
        state_dir: Path | str,
        *,
        command: str | Sequence[str] = STOREFRONT_COMMAND,
        version_args: Mapping[str, Sequence[str]] | None = None,
        faulty_marker: str | None = "faulty",
        faulty_args: Sequence[str] = FAULTY_ARGS,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        http_timeout_s: float = 1.0,
        replace_timeout_s: float = 10.0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.command = shlex.split(command) if isinstance(command, str) else list(command)
        if not self.command:
            raise DriverError("the local target's command is empty")
        self.version_args = {k: list(v) for k, v in (version_args or {}).items()}
        self.faulty_marker = faulty_marker
        self.faulty_args = list(faulty_args)
        self.env = dict(env or {})
        self.python = python
        self.http_timeout_s = http_timeout_s
        self.replace_timeout_s = replace_timeout_s

    def _file(self, instance: Instance, suffix: str) -> Path:
        return self.state_dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", instance.key) + suffix)

    def log_path(self, instance: Instance) -> Path:
        """Where the instance's stdout and stderr go."""
        return self._file(instance, ".log")

    def _record_path(self, instance: Instance) -> Path:
        return self._file(instance, ".json")

    def _read_record(self, path: Path) -> InstanceRecord | None:
        try:
            return InstanceRecord(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise DriverError(f"unreadable instance record {path}: {exc}") from exc

    def record(self, instance: Instance) -> InstanceRecord | None:
        """The record of the instance's process if that process still runs."""
        found = self._read_record(self._record_path(instance))
        if found is None or not process_alive(found.pid, found.start_ticks):
            return None
        return found

    def records(self) -> list[InstanceRecord]:
        """Records in the state directory, running or not."""
        found = [self._read_record(p) for p in sorted(self.state_dir.glob("*.json"))]
        return [r for r in found if r is not None]

    def command_for(self, instance: Instance, version: str) -> list[str]:
        """The command line that starts this version of the instance."""
        values = {
            "python": self.python,
            "host": instance.host,
            "port": str(instance.port),
            "version": version,
            "key": instance.key,
        }
        argv = [PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in self.command]
        argv += self.version_args.get(version, [])
        if self.faulty_marker and self.faulty_marker in version:
            argv += self.faulty_args
        return argv

    def _answer(self, instance: Instance, path: str) -> tuple[int, bytes] | None:
        return http_get(instance.host, instance.port, path, timeout_s=self.http_timeout_s)

    def running_version(self, instance: Instance) -> str | None:
        """The version our process answers on /version; None when stopped or not answering."""
        if self.record(instance) is None:
            return None
        answer = self._answer(instance, "/version")
        if answer is None or answer[0] != 200:
            return None
        try:
            version = json.loads(answer[1])["version"]
        except (ValueError, KeyError, TypeError):
            return None
        return str(version)

    def healthy(self, instance: Instance) -> bool:
        """Whether the instance answers 200 on /healthz right now."""
        answer = self._answer(instance, "/healthz")
        return answer is not None and answer[0] == 200

    def _marker(self, instance: Instance) -> str:
        return f"{self.state_dir.resolve()}/{instance.key}"

    def stop(self, instance: Instance, *, timeout_s: float) -> None:
        """SIGTERM the instance's process group, SIGKILL after timeout_s; no-op when stopped.

        Also stops a process started for the instance whose record was never written.
        """
        path = self._record_path(instance)
        found = self._read_record(path)
        if found is not None and process_alive(found.pid, found.start_ticks):
            self._terminate(instance.key, found.pid, found.start_ticks, timeout_s)
        for pid in marked_processes(self._marker(instance)):
            self._terminate(instance.key, pid, _start_ticks(pid), timeout_s)
        path.unlink(missing_ok=True)

    @staticmethod
    def _terminate(key: str, pid: int, start_ticks: int | None, timeout_s: float) -> None:
        for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                group = os.getpgid(pid)
                if group == os.getpgrp():  # never signal our own group
                    os.kill(pid, sig)
                else:
                    os.killpg(group, sig)
            deadline = time.monotonic() + wait_s
            while process_alive(pid, start_ticks):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            else:
                return
        raise DriverError(f"instance {key} (pid {pid}) survived SIGKILL")

    def start(self, instance: Instance, *, version: str) -> None:
        """Start the version; no-op when our process of that version runs, else replace it.

        An instance started with this version that does not answer yet counts as started: the
        caller's health wait decides whether it came up.
        """
        found = self.record(instance)
        if found is not None and found.version == version:
            return
        self.stop(instance, timeout_s=self.replace_timeout_s)
        if _port_taken(instance.host, instance.port):
            raise DriverError(
                f"cannot start {instance.key}: {instance.host}:{instance.port} is taken by a "
                "process this target did not start"
            )
        self._spawn(instance, version)

    def _spawn(self, instance: Instance, version: str) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        argv = self.command_for(instance, version)
        with self.log_path(instance).open("ab") as log:
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env={**os.environ, **self.env, INSTANCE_MARKER: self._marker(instance)},
                )
            except OSError as exc:
                raise DriverError(f"cannot start {instance.key}: {argv[0]}: {exc}") from exc
        _CHILDREN[process.pid] = process
        found = InstanceRecord(
            key=instance.key,
            host=instance.host,
            port=instance.port,
            pid=process.pid,
            version=version,
            start_ticks=_start_ticks(process.pid),
            command=argv,
            started_at=datetime.now(UTC).isoformat(),
        )
        self._write_record(self._record_path(instance), asdict(found))

    @staticmethod
    def _write_record(path: Path, data: dict[str, Any]) -> None:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(data))
        temporary.replace(path)

    def stop_all(self, *, timeout_s: float = 5.0) -> None:
        """Stop every instance recorded in the state directory (clean-up)."""
        for found in self.records():
            self.stop(Instance(found.key, found.host, found.port), timeout_s=timeout_s)
