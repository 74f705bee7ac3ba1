"""Walking the other way: what a CI needs; and how removals change the answers."""

from __future__ import annotations

import pytest

from flywheel.cmdb.graph import Status
from tests.unit.cmdb.estate import Estate, impaired, service


def estate() -> Estate:
    """tenant -> shop -> web -> pool(2 instances on 2 hosts) -> lb; web <-> auth cycle."""
    e = Estate()
    e.ci("shop", "business_service")
    e.ci("web")
    e.ci("auth")
    e.ci("lb", "load_balancer")
    e.pool("pool", 2, min_up=1)
    e.ci("h1", "host")
    e.ci("h2", "host")
    e.ci("acme", "tenant")
    e.rel("acme", "uses", "shop")
    e.rel("shop", "depends_on", "web")
    e.rel("web", "depends_on", "auth")
    e.rel("auth", "depends_on", "web")
    e.rel("web", "depends_on", "pool")
    e.rel("pool", "balanced_by", "lb")
    e.rel("pool-i1", "runs_on", "h1")
    e.rel("pool-i2", "runs_on", "h2")
    return e


def depths(e: Estate, key: str, max_depth: int | None = None) -> dict[str, int]:
    return {d.key: d.depth for d in e.graph.dependencies(e.id(key), max_depth=max_depth).reachable}


def test_dependencies_walk_down_through_cycles_and_pools() -> None:
    e = estate()
    assert depths(e, "shop") == {
        "web": 1,
        "auth": 2,
        "pool": 2,
        "lb": 3,
        "pool-i1": 3,
        "pool-i2": 3,
        "h1": 4,
        "h2": 4,
    }
    assert depths(e, "auth") == {
        "web": 1,
        "pool": 2,
        "lb": 3,
        "pool-i1": 3,
        "pool-i2": 3,
        "h1": 4,
        "h2": 4,
    }


def test_an_instance_needs_its_host_not_its_pool() -> None:
    e = estate()
    assert depths(e, "pool-i1") == {"h1": 1}
    assert depths(e, "h1") == {}


def test_max_depth_limits_the_walk() -> None:
    e = estate()
    assert depths(e, "shop", max_depth=1) == {"web": 1}
    assert depths(e, "shop", max_depth=2) == {"web": 1, "auth": 2, "pool": 2}
    assert depths(e, "shop", max_depth=0) == {}


def test_dependencies_report_the_edges_walked_as_stored() -> None:
    e = estate()
    result = e.graph.dependencies(e.id("web"), max_depth=2)
    assert result.key == "web"
    edges = {(x.source, x.rel_type, x.target) for x in result.edges}
    assert edges == {
        ("web", "depends_on", "auth"),
        ("web", "depends_on", "pool"),
        ("auth", "depends_on", "web"),
        ("pool", "balanced_by", "lb"),
        ("pool-i1", "member_of", "pool"),
        ("pool-i2", "member_of", "pool"),
    }
    assert result.reachable[0].ci_type == "application"


def test_a_tenant_needs_the_services_it_uses_and_what_they_need() -> None:
    e = estate()
    result = e.graph.dependencies(e.id("acme"), max_depth=2)
    assert {d.key: d.depth for d in result.reachable} == {"shop": 1, "web": 2}
    assert ("acme", "uses", "shop") in {(x.source, x.rel_type, x.target) for x in result.edges}


def test_members_of_lists_a_pools_members() -> None:
    e = estate()
    assert e.graph.members_of(e.id("pool")) == [e.id("pool-i1"), e.id("pool-i2")]
    assert e.graph.members_of(e.id("lb")) == []


def test_removing_a_relationship_changes_pool_size_and_impact() -> None:
    e = estate()
    assert impaired(e.impact("h1"))["pool"].status is Status.DEGRADED
    e.graph.remove_relationship(e.rel_ids["pool-i2", "member_of", "pool"])
    assert e.graph.members_of(e.id("pool")) == [e.id("pool-i1")]
    assert impaired(e.impact("h1"))["pool"].status is Status.DOWN


def test_removing_a_ci_drops_its_relationships() -> None:
    e = estate()
    before = e.graph.relationship_count
    assert e.graph.remove_ci(e.id("web"))
    assert e.graph.relationship_count == before - 4
    assert e.impact("lb").business_services == []
    assert depths(e, "shop") == {}
    assert not e.graph.remove_ci(e.id("lb") + 1000)
    e.ci("web")
    e.rel("shop", "depends_on", "web")
    assert service(e.impact("web"), "shop").status is Status.DOWN


def test_upsert_keeps_keys_unique_and_can_rename() -> None:
    e = estate()
    web = e.id("web")
    e.graph.upsert_ci(web, key="web-2", ci_type="application", name="Web", criticality=2)
    assert e.graph.id_of("web-2") == web
    assert e.graph.id_of("web") is None
    assert e.graph.key_of(web) == "web-2"
    assert service(e.impact("auth"), "shop").path == ["auth", "web-2", "shop"]
    with pytest.raises(ValueError, match="auth"):
        e.graph.upsert_ci(web, key="auth", ci_type="application", name="Web", criticality=2)
    with pytest.raises(ValueError, match="criticality"):
        e.graph.upsert_ci(web, key="web-2", ci_type="application", name="Web", criticality=5)
