"""The interfaces a deployment run drives: a load balancer and a deploy target.

Every method must be idempotent: a durable run repeats a step whose completion was not
recorded (drain an already-drained server, start an instance already running the version).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class DriverError(Exception):
    """A driver could not do what it was asked; the message says what and where."""


@dataclass(frozen=True)
class Instance:
    """One member of a pool as the drivers see it (from its CMDB configuration item)."""

    key: str
    host: str
    port: int
    lb_server: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerStats:
    """A backend server's counters from the load balancer (HAProxy `show stat` names)."""

    server: str
    status: str
    sessions: int
    total_sessions: int
    responses_2xx: int = 0
    responses_5xx: int = 0
    connection_errors: int = 0
    response_errors: int = 0
    latency_ms: float | None = None


class LoadBalancer(Protocol):
    """Takes instances in and out of rotation and reports their traffic."""

    def drain(self, backend: str, server: str) -> None:
        """Stop sending new sessions to the server; existing ones finish."""

    def disable(self, backend: str, server: str) -> None:
        """Take the server out of rotation entirely (maintenance)."""

    def enable(self, backend: str, server: str) -> None:
        """Put the server back in rotation."""

    def active_sessions(self, backend: str, server: str) -> int:
        """Sessions the server still has open."""

    def stats(self, backend: str) -> list[ServerStats]:
        """Counters of every server of the backend."""


class Target(Protocol):
    """Where instances run: stops, starts and checks one instance at a time."""

    def running_version(self, instance: Instance) -> str | None:
        """The version the instance runs now, or None when it is stopped."""

    def stop(self, instance: Instance, *, timeout_s: float) -> None:
        """Stop gracefully (SIGTERM-like), forcing after the timeout; no-op when stopped."""

    def start(self, instance: Instance, *, version: str) -> None:
        """Start this version; no-op when it already runs it, replace it when another runs."""

    def healthy(self, instance: Instance) -> bool:
        """Whether the instance answers its health check right now."""
