"""The actions of a rolling bounce on one batch, through the drivers (each idempotent)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flywheel.deploy.analysis import Verdict, judge_batch, traffic_between
from flywheel.deploy.drivers.base import DriverError, Instance, LoadBalancer, ServerStats, Target
from flywheel.deploy.schemas import RolloutSettings

# The order one batch goes through; a rollback repeats it without the bake.
BOUNCE = ("drain", "wait_drained", "disable", "stop", "start", "wait_healthy", "enable", "bake")
BAKE_CHECK_S = 0.5  # how often a bake looks at the traffic, to stop a bad batch early
ROLLBACK = ("drain", "wait_drained", "disable", "stop", "start", "wait_healthy", "enable")


class StepFailed(Exception):
    """An action could not be completed; the run rolls back."""

    def __init__(self, reason: str, *, detail: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.detail = detail or {}


@dataclass
class Toolkit:
    """What a run drives: its load balancer, its target, the pool's instances."""

    lb: LoadBalancer
    target: Target
    backend: str
    instances: dict[str, Instance]
    settings: RolloutSettings
    should_stop: Callable[[], bool] = lambda: False

    def servers(self, keys: list[str]) -> list[tuple[Instance, str]]:
        """The batch's instances with their load-balancer server names."""
        return [(self.instances[k], self.instances[k].lb_server or k) for k in keys]


def _wait(check: Callable[[], bool], *, timeout_s: float, poll_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


def drain(kit: Toolkit, keys: list[str]) -> dict[str, Any]:
    """Stop new sessions to the batch."""
    for _, server in kit.servers(keys):
        kit.lb.drain(kit.backend, server)
    return {}


def wait_drained(kit: Toolkit, keys: list[str]) -> dict[str, Any]:
    """Wait for the batch's sessions to finish; force after the drain timeout."""
    left: dict[str, int] = {}

    def drained() -> bool:
        left.clear()
        for _, server in kit.servers(keys):
            sessions = kit.lb.active_sessions(kit.backend, server)
            if sessions:
                left[server] = sessions
        return not left

    done = _wait(drained, timeout_s=kit.settings.drain_timeout_s, poll_s=kit.settings.poll_s)
    return {"forced": not done, "sessions_left": dict(left)}


def disable(kit: Toolkit, keys: list[str]) -> dict[str, Any]:
    """Take the batch out of rotation."""
    for _, server in kit.servers(keys):
        kit.lb.disable(kit.backend, server)
    return {}


def stop(kit: Toolkit, keys: list[str]) -> dict[str, Any]:
    """Stop the batch's instances gracefully."""
    for instance, _ in kit.servers(keys):
        kit.target.stop(instance, timeout_s=kit.settings.stop_timeout_s)
    return {}


def start(kit: Toolkit, keys: list[str], versions: Mapping[str, str]) -> dict[str, Any]:
    """Start each instance of the batch on its version."""
    for instance, _ in kit.servers(keys):
        kit.target.start(instance, version=versions[instance.key])
    return {"versions": {k: versions[k] for k in keys}}


def wait_healthy(kit: Toolkit, keys: list[str]) -> dict[str, Any]:
    """Wait until every instance of the batch passes its health check."""
    pending = set(keys)

    def all_healthy() -> bool:
        for instance, _ in kit.servers(sorted(pending)):
            if kit.target.healthy(instance):
                pending.discard(instance.key)
        return not pending

    if not _wait(all_healthy, timeout_s=kit.settings.health_timeout_s, poll_s=kit.settings.poll_s):
        raise StepFailed(
            f"{', '.join(sorted(pending))} did not pass the health check "
            f"within {kit.settings.health_timeout_s:g} s"
        )
    return {}


def enable(kit: Toolkit, keys: list[str]) -> dict[str, Any]:
    """Put the batch back in rotation and wait until the load balancer sends it traffic."""
    servers = [server for _, server in kit.servers(keys)]
    for server in servers:
        kit.lb.enable(kit.backend, server)

    def serving() -> bool:
        stats = {s.server: s for s in kit.lb.stats(kit.backend)}
        return all(s not in stats or stats[s].status.upper().startswith("UP") for s in servers)

    if not _wait(serving, timeout_s=kit.settings.health_timeout_s, poll_s=kit.settings.poll_s):
        raise StepFailed(f"the load balancer does not report {', '.join(servers)} as UP")
    return {}


def _sample(kit: Toolkit) -> dict[str, ServerStats]:
    return {s.server: s for s in kit.lb.stats(kit.backend)}


def _judge(
    kit: Toolkit, before: dict[str, ServerStats], keys: list[str], updated: list[str]
) -> Verdict:
    after = _sample(kit)
    new_servers = [server for _, server in kit.servers(keys)]
    old_keys = [k for k in kit.instances if k not in set(updated) | set(keys)]
    old_servers = [server for _, server in kit.servers(old_keys)]
    unhealthy = [inst.key for inst, _ in kit.servers(keys) if not kit.target.healthy(inst)]
    return judge_batch(
        traffic_between(before, after, new_servers),
        traffic_between(before, after, old_servers) if old_servers else None,
        unhealthy=unhealthy,
        max_error_rate=kit.settings.max_error_rate,
        min_requests=kit.settings.min_requests,
    )


def bake(kit: Toolkit, keys: list[str], updated: list[str]) -> dict[str, Any]:
    """Watch the batch for the bake time against the old instances; fail as soon as it is clear."""
    before = _sample(kit)
    deadline = time.monotonic() + kit.settings.bake_s
    while time.monotonic() < deadline and not kit.should_stop():
        time.sleep(min(BAKE_CHECK_S, max(0.0, deadline - time.monotonic())))
        verdict = _judge(kit, before, keys, updated)
        if not verdict.healthy:
            break
    else:
        verdict = _judge(kit, before, keys, updated)
    record = {"verdict": verdict.reason, "evidence": verdict.evidence}
    if not verdict.healthy:
        # The traffic of a failed bake is evidence too: service levels count its errors.
        raise StepFailed(verdict.reason, detail=record)
    return record


def perform(
    kit: Toolkit,
    action: str,
    keys: list[str],
    *,
    versions: Mapping[str, str],
    updated: list[str],
) -> dict[str, Any]:
    """Run one action on a batch; StepFailed (or DriverError) when it cannot be done."""
    try:
        if action == "start":
            return start(kit, keys, versions)
        if action == "bake":
            return bake(kit, keys, updated)
        simple: dict[str, Callable[[Toolkit, list[str]], dict[str, Any]]] = {
            "drain": drain,
            "wait_drained": wait_drained,
            "disable": disable,
            "stop": stop,
            "wait_healthy": wait_healthy,
            "enable": enable,
        }
        return simple[action](kit, keys)
    except DriverError as exc:
        raise StepFailed(str(exc)) from exc
