"""Who this process is, and when another one counts as dead (pure)."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path


class Role(StrEnum):
    """What a process does: serve requests, run background work, or both."""

    ALL = "all"
    API = "api"
    WORKER = "worker"


RUNS_WORK = frozenset({Role.ALL, Role.WORKER})


@dataclass(frozen=True)
class Identity:
    """This process: its executor id (unique per start unless named), host, pid and role."""

    executor_id: str
    hostname: str
    pid: int
    role: Role


def identify(role: Role, name: str = "") -> Identity:
    """This process's identity; a configured name is kept across restarts."""
    host, pid = socket.gethostname(), os.getpid()
    executor_id = name or f"{host}:{pid}:{secrets.token_hex(4)}"
    return Identity(executor_id, host, pid, role)


@dataclass(frozen=True)
class Seen:
    """What the heartbeat table says about another process."""

    executor_id: str
    hostname: str
    pid: int
    last_seen_at: datetime
    stopped_at: datetime | None


def why_dead(
    seen: Seen, *, now: datetime, dead_after: timedelta, me: Identity, pid_alive: bool
) -> str | None:
    """Why `seen` no longer runs its work (stopped, silent, or gone from this host), or None."""
    if seen.executor_id == me.executor_id:
        return None
    if seen.stopped_at is not None:
        return "stopped"
    if now - seen.last_seen_at > dead_after:
        return f"no heartbeat for {int((now - seen.last_seen_at).total_seconds())} s"
    if seen.hostname == me.hostname and not pid_alive:
        return f"process {seen.pid} is gone from this host"
    return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (a zombie, not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: a signal-0 probe
        return _answers_signal_0(pid)
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _answers_signal_0(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
