"""The load balancer of a pool that has none: rotation changes are no-ops, no statistics."""

from __future__ import annotations

from flywheel.deploy.drivers.base import ServerStats


class NoLoadBalancer:
    """A LoadBalancer for targets without one: nothing to drain, nothing to report."""

    def drain(self, backend: str, server: str) -> None:
        """Nothing to drain."""

    def disable(self, backend: str, server: str) -> None:
        """Nothing to take out of rotation."""

    def enable(self, backend: str, server: str) -> None:
        """Nothing to put back."""

    def active_sessions(self, backend: str, server: str) -> int:
        """Unknown, reported as 0 so that a drain wait ends at once."""
        return 0

    def stats(self, backend: str) -> list[ServerStats]:
        """No statistics."""
        return []
