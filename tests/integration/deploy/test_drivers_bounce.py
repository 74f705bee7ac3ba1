"""The drivers together: a rolling bounce through real HAProxy over local storefronts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.deploy.drivers.base import Instance, LoadBalancer, Target
from tests.deploy_support import LoadGenerator, Pool, running_pool, wait_until

BACKEND = "storefront"


def bounce(lb: LoadBalancer, target: Target, instance: Instance, version: str) -> None:
    """One instance, the careful way: drain, wait for 0 sessions, maint, stop, start, ready."""
    assert instance.lb_server is not None
    lb.drain(BACKEND, instance.lb_server)
    wait_until(lambda: lb.active_sessions(BACKEND, instance.lb_server or "") == 0, what="drained")
    lb.disable(BACKEND, instance.lb_server)
    target.stop(instance, timeout_s=5)
    target.start(instance, version=version)
    wait_until(lambda: target.healthy(instance), what=f"{instance.key} healthy")
    lb.enable(BACKEND, instance.lb_server)


def wait_for_more_requests(load: LoadGenerator, count: int) -> None:
    served = load.total()
    wait_until(lambda: load.total() >= served + count, what=f"{count} more requests")


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Pool]:
    with running_pool(tmp_path, size=3) as running:
        yield running


def test_rolling_bounce_under_load_fails_no_request(
    pool: Pool,
) -> None:
    target, instances, process = pool.target, pool.instances, pool.haproxy
    lb = process.load_balancer
    with LoadGenerator(process.config.frontend_port) as load:
        wait_until(lambda: load.total() >= 20, what="load running")
        for instance in instances:
            bounce(lb, target, instance, "1.1.0")
            wait_for_more_requests(load, 10)
        after = load.result.versions["1.1.0"]
        wait_until(lambda: load.result.versions["1.1.0"] >= after + 30, what="new version serving")
        before_end = load.result.versions["1.0.0"]
    assert load.result.failed == 0, load.result.failures
    assert load.result.ok > 100
    assert load.result.versions["1.0.0"] == before_end  # nothing old answered after the bounce
    assert all(target.running_version(i) == "1.1.0" for i in instances)
    assert {s.status for s in lb.stats(BACKEND)} <= {"UP", "UP 1/2"}


def test_the_bounce_steps_are_idempotent(
    pool: Pool,
) -> None:
    """A durable run may repeat any step: repeating each one changes nothing and fails nothing."""
    target, instances, process = pool.target, pool.instances, pool.haproxy
    lb, first = process.load_balancer, instances[0]
    server = first.lb_server or ""
    with LoadGenerator(process.config.frontend_port) as load:
        for _ in range(2):
            lb.drain(BACKEND, server)
        wait_until(lambda: lb.active_sessions(BACKEND, server) == 0, what="drained")
        for _ in range(2):
            lb.disable(BACKEND, server)
        for _ in range(2):
            target.stop(first, timeout_s=5)
        for _ in range(2):
            target.start(first, version="1.1.0")
        wait_until(lambda: target.healthy(first), what="healthy")
        for _ in range(2):
            lb.enable(BACKEND, server)
        wait_until(lambda: load.result.versions["1.1.0"] >= 5, what="new instance serving")
    assert load.result.failed == 0, load.result.failures
    assert target.running_version(first) == "1.1.0"


def test_a_faulty_instance_shows_in_its_server_stats(
    pool: Pool,
) -> None:
    target, instances, process = pool.target, pool.instances, pool.haproxy
    lb = process.load_balancer
    bounce(lb, target, instances[0], "1.1.0-faulty")
    with LoadGenerator(process.config.frontend_port) as load:
        wait_until(lambda: load.total() >= 90, what="90 requests")
    stats = {s.server: s for s in lb.stats(BACKEND)}
    assert stats["s1"].responses_5xx >= 4  # 20 % of its ~30 requests
    assert stats["s2"].responses_5xx == 0 and stats["s3"].responses_5xx == 0
    assert load.result.failures["http 500"] == stats["s1"].responses_5xx
