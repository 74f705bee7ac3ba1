"""Impact propagation on small hand-drawn graphs: chains, pools, optional edges, cycles, paths."""

from __future__ import annotations

import pytest

from flywheel.cmdb.graph import Status
from tests.unit.cmdb.estate import Estate, impaired, service, statuses


def shop_with_pool(size: int = 6, min_up: str | int | None = 4) -> Estate:
    """storefront -> web (app) -> web-pool (size, min_up) -> lb; web -> db."""
    e = Estate()
    e.ci("storefront", "business_service", criticality=1)
    e.ci("web")
    e.ci("db", "database")
    e.ci("lb", "load_balancer")
    e.pool("web-pool", size, min_up=min_up)
    e.rel("storefront", "depends_on", "web")
    e.rel("web", "depends_on", "web-pool")
    e.rel("web", "depends_on", "db")
    e.rel("web-pool", "balanced_by", "lb")
    return e


def test_a_hard_dependency_chain_goes_down_end_to_end() -> None:
    e = Estate()
    e.ci("checkout", "business_service")
    e.ci("cart")
    e.ci("orders-db", "database")
    e.ci("unrelated")
    e.rel("checkout", "depends_on", "cart")
    e.rel("cart", "depends_on", "orders-db")
    result = e.impact("orders-db")
    assert result.failed == ["orders-db"]
    assert result.status is Status.DOWN
    assert service(result, "checkout").status is Status.DOWN
    assert service(result, "checkout").path == ["orders-db", "cart", "checkout"]
    assert service(result, "checkout").redundancy_left is None
    assert statuses(result) == {"cart": "down", "checkout": "down"}


def test_failure_does_not_flow_from_needer_to_needed() -> None:
    e = shop_with_pool()
    result = e.impact("web")
    assert "db" not in impaired(result)
    assert "web-pool" not in impaired(result)
    assert service(result, "storefront").status is Status.DOWN


@pytest.mark.parametrize(
    ("lost", "status", "redundancy"),
    [(1, Status.DEGRADED, 1), (2, Status.DEGRADED, 0), (3, Status.DOWN, 0)],
)
def test_a_pool_of_six_with_min_up_four(lost: int, status: Status, redundancy: int) -> None:
    e = shop_with_pool(6, 4)
    result = e.impact(*[f"web-pool-i{n}" for n in range(1, lost + 1)])
    pool = impaired(result)["web-pool"]
    assert (pool.status, pool.redundancy_left) == (status, redundancy)
    storefront = service(result, "storefront")
    assert (storefront.status, storefront.redundancy_left) == (status, redundancy)
    assert result.status is status
    assert storefront.path[0].startswith("web-pool-i")
    assert storefront.path[1:] == ["web-pool", "web", "storefront"]


def test_a_pool_without_min_up_needs_one_member() -> None:
    e = shop_with_pool(2, None)
    assert service(e.impact("web-pool-i1"), "storefront").status is Status.DEGRADED
    assert service(e.impact("web-pool-i1", "web-pool-i2"), "storefront").status is Status.DOWN


def test_min_up_zero_never_takes_the_pool_down() -> None:
    e = shop_with_pool(2, 0)
    pool = impaired(e.impact("web-pool-i1", "web-pool-i2"))["web-pool"]
    assert (pool.status, pool.redundancy_left) == (Status.DEGRADED, 0)


@pytest.mark.parametrize(
    ("min_up", "lost", "status", "redundancy"),
    [
        ("66%", 2, Status.DEGRADED, 0),  # ceil(6 * 0.66) = 4
        ("66%", 3, Status.DOWN, 0),
        ("50%", 3, Status.DEGRADED, 0),
        ("50%", 1, Status.DEGRADED, 2),
        ("100%", 1, Status.DOWN, 0),
    ],
)
def test_percentage_min_up_rounds_up(
    min_up: str, lost: int, status: Status, redundancy: int
) -> None:
    e = shop_with_pool(6, min_up)
    pool = impaired(e.impact(*[f"web-pool-i{n}" for n in range(1, lost + 1)]))["web-pool"]
    assert (pool.status, pool.redundancy_left) == (status, redundancy)


def test_one_host_taking_out_several_instances_of_a_pool() -> None:
    e = shop_with_pool(6, 4)
    for host in ("h1", "h2", "h3"):
        e.ci(host, "host")
    placement = {1: "h1", 2: "h1", 3: "h1", 4: "h2", 5: "h3", 6: "h3"}
    for n, host in placement.items():
        e.rel(f"web-pool-i{n}", "runs_on", host)

    big = e.impact("h1")
    assert impaired(big)["web-pool"].status is Status.DOWN
    assert {k for k, c in impaired(big).items() if c.ci_type == "instance"} == {
        "web-pool-i1",
        "web-pool-i2",
        "web-pool-i3",
    }
    assert service(big, "storefront").status is Status.DOWN
    assert service(big, "storefront").path[0] == "h1"

    assert [(c.key, c.status.value) for c in big.impaired] == [
        ("web", "down"),
        ("web-pool", "down"),
        ("web-pool-i1", "down"),
        ("web-pool-i2", "down"),
        ("web-pool-i3", "down"),
    ]
    capped = e.graph.impact([e.id("h1")], list_impaired=2)
    assert [c.key for c in capped.impaired] == ["web", "web-pool"]
    assert capped.impaired_count == big.impaired_count == 5
    small = e.impact("h3")
    assert [(c.key, c.status.value, c.redundancy_left) for c in small.impaired] == [
        ("web-pool-i5", "down", None),
        ("web-pool-i6", "down", None),
        ("web", "degraded", None),
        ("web-pool", "degraded", 0),
    ]


def test_a_load_balancer_down_takes_its_pool_down() -> None:
    e = shop_with_pool(6, 4)
    result = e.impact("lb")
    pool = impaired(result)["web-pool"]
    assert (pool.status, pool.redundancy_left) == (Status.DOWN, 0)
    assert service(result, "storefront").path == ["lb", "web-pool", "web", "storefront"]


def test_the_worst_of_members_and_dependencies_wins_for_a_pool() -> None:
    e = shop_with_pool(6, 4)
    e.ci("cache", "database")
    e.rel("web-pool", "depends_on", "cache", optional=True)
    assert impaired(e.impact("cache"))["web-pool"].status is Status.DEGRADED
    both = impaired(e.impact("cache", "web-pool-i1", "web-pool-i2", "web-pool-i3"))
    assert both["web-pool"].status is Status.DOWN


def test_an_optional_dependency_only_degrades() -> None:
    e = Estate()
    e.ci("search", "business_service")
    e.ci("search-app")
    e.ci("recommendations", "external_service")
    e.rel("search", "depends_on", "search-app")
    e.rel("search-app", "depends_on", "recommendations", optional=True)
    result = e.impact("recommendations")
    assert statuses(result) == {"search-app": "degraded", "search": "degraded"}
    assert result.status is Status.DEGRADED


def test_a_degraded_member_degrades_its_pool_without_losing_redundancy() -> None:
    e = shop_with_pool(6, 4)
    e.ci("flaky", "external_service")
    e.rel("web-pool-i1", "depends_on", "flaky", optional=True)
    pool = impaired(e.impact("flaky"))["web-pool"]
    assert (pool.status, pool.redundancy_left) == (Status.DEGRADED, 2)


def test_a_two_cycle_terminates_with_both_down() -> None:
    e = Estate()
    e.ci("bs", "business_service")
    e.ci("a")
    e.ci("b")
    e.ci("c")
    e.rel("a", "depends_on", "b")
    e.rel("b", "depends_on", "a")
    e.rel("bs", "depends_on", "a")
    e.rel("a", "depends_on", "c", optional=True)
    assert statuses(e.impact("b")) == {"a": "down", "bs": "down"}
    assert statuses(e.impact("c")) == {"a": "degraded", "b": "degraded", "bs": "degraded"}


def test_a_cycle_through_a_pool_terminates() -> None:
    e = Estate()
    e.ci("bs", "business_service")
    e.pool("pool", 2, min_up=2)
    e.ci("h1", "host")
    e.ci("h2", "host")
    e.rel("pool-i1", "runs_on", "h1")
    e.rel("pool-i2", "runs_on", "h2")
    e.rel("h2", "depends_on", "pool")  # e.g. the host mounts storage served by the pool
    e.rel("bs", "depends_on", "pool")
    result = e.impact("h1")
    assert statuses(result) == {
        "pool-i1": "down",
        "pool": "down",
        "h2": "down",
        "pool-i2": "down",
        "bs": "down",
    }
    assert service(result, "bs").path == ["h1", "pool-i1", "pool", "bs"]


def test_a_degrading_cycle_through_a_pool_settles() -> None:
    e = Estate()
    e.pool("pool", 2, min_up=1)
    e.ci("h1", "host")
    e.ci("h2", "host")
    e.rel("pool-i1", "runs_on", "h1")
    e.rel("pool-i2", "runs_on", "h2")
    e.rel("h1", "depends_on", "pool")
    e.rel("h2", "depends_on", "pool")
    result = impaired(e.impact("pool-i1"))
    assert result["pool"].status is Status.DEGRADED
    assert result["h2"].status is Status.DEGRADED
    assert result["pool-i2"].status is Status.DEGRADED
    assert result["h1"].status is Status.DEGRADED


def test_paths_are_shortest_and_start_at_a_failed_ci() -> None:
    e = Estate()
    e.ci("bs", "business_service")
    for key in ("long1", "long2", "short", "other-root"):
        e.ci(key)
    e.ci("db", "database")
    e.rel("bs", "depends_on", "long1")
    e.rel("long1", "depends_on", "long2")
    e.rel("long2", "depends_on", "db")
    e.rel("bs", "depends_on", "short")
    e.rel("short", "depends_on", "db")
    assert service(e.impact("db"), "bs").path == ["db", "short", "bs"]
    assert service(e.impact("db", "long2"), "bs").path == ["db", "short", "bs"]
    assert service(e.impact("long1"), "bs").path == ["long1", "bs"]


def test_the_path_explains_the_final_status() -> None:
    e = Estate()
    e.ci("bs", "business_service")
    e.ci("app")
    e.ci("cache", "database")
    e.ci("deep")
    e.ci("db", "database")
    e.rel("bs", "depends_on", "app")
    e.rel("app", "depends_on", "cache", optional=True)
    e.rel("cache", "depends_on", "db")
    e.rel("app", "depends_on", "deep")
    e.rel("deep", "depends_on", "db")
    bs = service(e.impact("db"), "bs")
    assert bs.status is Status.DOWN
    assert bs.path == ["db", "deep", "app", "bs"]


def test_failed_business_services_are_listed_with_themselves_as_path() -> None:
    e = shop_with_pool()
    e.ci("payments", "business_service", criticality=1)
    e.ci("blog", "business_service", criticality=4)
    e.rel("blog", "depends_on", "web-pool-i1", optional=True)
    result = e.impact("payments", "web-pool-i1")
    assert [(s.key, s.status.value) for s in result.business_services] == [
        ("payments", "down"),
        ("storefront", "degraded"),
        ("blog", "degraded"),
    ]
    assert service(result, "payments").path == ["payments"]
    assert "payments" not in impaired(result)


def test_a_failure_reaching_no_business_service_reports_the_failed_status() -> None:
    e = shop_with_pool()
    e.ci("spare", "host")
    result = e.impact("spare")
    assert result.business_services == []
    assert result.status is Status.DOWN
    assert e.graph.impact([]).status is Status.OK


def test_unknown_types_behave_like_ordinary_cis() -> None:
    e = Estate()
    e.ci("bs", "business_service")
    e.ci("queue", "message_broker")
    e.rel("bs", "depends_on", "queue")
    assert statuses(e.impact("queue")) == {"bs": "down"}


def test_unknown_failed_ids_raise_key_error() -> None:
    e = shop_with_pool()
    with pytest.raises(KeyError, match="999"):
        e.graph.impact([e.id("db"), 999])
    with pytest.raises(KeyError):
        e.graph.dependencies(999)
    with pytest.raises(KeyError):
        e.graph.add_relationship(1, source_id=e.id("db"), rel_type="depends_on", target_id=999)
    with pytest.raises(KeyError):
        e.graph.key_of(999)
