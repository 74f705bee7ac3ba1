"""Tenants counted through business-service bitmasks, and kept right through removals."""

from __future__ import annotations

from flywheel.cmdb.graph import Status
from flywheel.cmdb.tenants import IdTable
from tests.unit.cmdb.estate import Estate


def retail() -> Estate:
    """Three business services on their own apps; five tenants using some of them."""
    e = Estate()
    for n in (1, 2, 3):
        e.ci(f"bs{n}", "business_service", criticality=n)
        e.ci(f"app{n}")
        e.rel(f"bs{n}", "depends_on", f"app{n}")
    e.ci("shared-db", "database")
    e.rel("app1", "depends_on", "shared-db")
    e.rel("app2", "depends_on", "shared-db")
    uses = {"t1": [1], "t2": [1, 2], "t3": [2], "t4": [3], "t5": [1, 2, 3]}
    crit = {"t1": 2, "t2": 2, "t3": 1, "t4": 1, "t5": 4}
    for tenant, services in uses.items():
        e.ci(tenant, "tenant", criticality=crit[tenant])
        for n in services:
            e.rel(tenant, "uses", f"bs{n}")
    return e


def top_keys(e: Estate, *failed: str, top: int = 10) -> list[str]:
    return [t.key for t in e.impact(*failed, top=top).top_tenants]


def test_tenants_are_counted_once_even_when_using_several_impacted_services() -> None:
    e = retail()
    assert e.impact("app1").tenants_affected == 3  # t1, t2, t5
    assert e.impact("shared-db").tenants_affected == 4  # t1, t2, t3, t5
    assert e.impact("app3").tenants_affected == 2  # t4, t5


def test_top_tenants_by_criticality_then_id() -> None:
    e = retail()
    assert top_keys(e, "shared-db") == ["t3", "t1", "t2", "t5"]
    assert top_keys(e, "shared-db", top=2) == ["t3", "t1"]
    assert top_keys(e, "shared-db", top=0) == []
    first = e.impact("shared-db").top_tenants[0]
    assert (first.ci_id, first.criticality) == (e.id("t3"), 1)


def test_a_failed_tenant_counts_as_affected() -> None:
    e = retail()
    result = e.impact("t4")
    assert result.tenants_affected == 1
    assert [t.key for t in result.top_tenants] == ["t4"]
    assert result.business_services == []
    assert result.impaired == []
    assert result.status is Status.DOWN
    assert e.impact("t4", "app3").tenants_affected == 2


def test_tenants_are_not_reported_as_impaired_cis() -> None:
    e = retail()
    keys = {c.key for c in e.impact("shared-db").impaired}
    assert keys == {"app1", "app2"}


def test_removing_a_uses_edge_clears_the_bit_unless_a_duplicate_remains() -> None:
    e = retail()
    duplicate = e.graph.relationship_count + 5000
    e.graph.add_relationship(
        duplicate, source_id=e.id("t1"), rel_type="uses", target_id=e.id("bs1")
    )
    assert e.graph.remove_relationship(e.rel_ids["t1", "uses", "bs1"])
    assert e.impact("app1").tenants_affected == 3
    assert e.graph.remove_relationship(duplicate)
    assert e.impact("app1").tenants_affected == 2
    assert not e.graph.remove_relationship(duplicate)


def test_removing_a_tenant_and_reusing_its_row() -> None:
    e = retail()
    assert e.graph.remove_ci(e.id("t5"))
    assert e.impact("app3").tenants_affected == 1
    assert e.graph.id_of("t5") is None
    e.ci("t6", "tenant", criticality=1)
    assert e.impact("shared-db").tenants_affected == 3
    e.rel("t6", "uses", "bs3")
    assert top_keys(e, "app3") == ["t4", "t6"]


def test_removing_a_business_service_frees_its_bit_cleanly() -> None:
    e = retail()
    before = e.graph.relationship_count
    assert e.graph.remove_ci(e.id("bs1"))
    assert e.graph.relationship_count == before - 4  # bs1 -> app1 and three uses edges
    assert e.impact("app1").tenants_affected == 0
    e.ci("bs-new", "business_service")
    e.rel("bs-new", "depends_on", "app1")
    assert e.impact("app1").tenants_affected == 0  # nobody uses the service that got the bit
    e.rel("t4", "uses", "bs-new")
    assert top_keys(e, "app1") == ["t4"]


def test_more_than_sixty_four_services_use_several_mask_words() -> None:
    e = Estate()
    e.ci("core", "database")
    for n in range(70):
        e.ci(f"bs{n}", "business_service")
    e.ci("t-low", "tenant")
    e.ci("t-high", "tenant")
    e.rel("t-low", "uses", "bs0")
    e.rel("t-high", "uses", "bs69")
    e.rel("bs69", "depends_on", "core")
    assert top_keys(e, "core") == ["t-high"]
    e.rel("bs0", "depends_on", "core")
    assert e.impact("core").tenants_affected == 2


def test_a_uses_edge_between_other_types_is_an_ordinary_edge() -> None:
    e = retail()
    e.ci("partner", "external_service")
    e.rel("t3", "depends_on", "partner")
    e.rel("app3", "uses", "partner")
    result = e.impact("partner")
    assert result.tenants_affected == 1 + 2  # t3 directly, then t4 and t5 through bs3
    assert [s.key for s in result.business_services] == ["bs3"]


def test_changing_a_ci_between_tenant_and_other_kinds_keeps_its_relationships() -> None:
    e = retail()
    count = e.graph.relationship_count
    e.graph.upsert_ci(e.id("bs3"), key="bs3", ci_type="application", name="x", criticality=3)
    assert e.graph.relationship_count == count
    assert e.impact("app3").business_services == []
    assert e.impact("app3").tenants_affected == 2  # now ordinary edges t4 -> bs3, t5 -> bs3
    e.graph.upsert_ci(e.id("bs3"), key="bs3", ci_type="business_service", name="x", criticality=3)
    assert e.impact("app3").tenants_affected == 2
    assert [s.key for s in e.impact("app3").business_services] == ["bs3"]


def test_updating_a_tenant_changes_its_key_and_criticality() -> None:
    e = retail()
    e.graph.upsert_ci(e.id("t5"), key="t5-renamed", ci_type="tenant", name="T5", criticality=1)
    assert e.graph.id_of("t5") is None
    assert top_keys(e, "app3") == ["t4", "t5-renamed"]
    assert len(e.graph) == 12 and e.graph.tenant_count == 5


def test_id_table_handles_dense_and_outlying_ids() -> None:
    table = IdTable()
    table.set(3, 30)
    table.set(10**12, 7)
    table.set(-5, 1)
    assert (table.get(3), table.get(10**12), table.get(-5), table.get(4)) == (30, 7, 1, None)
    assert sorted(table.keys_where(lambda v: v < 10)) == [-5, 10**12]
    assert table.pop(10**12) == 7
    assert table.pop(10**12) is None
    assert len(table) == 2


def test_id_table_moves_outlying_ids_in_when_the_dense_part_grows() -> None:
    table = IdTable()
    table.set(300_000, 1)  # beyond what an almost empty table makes dense
    for key in range(100_000):
        table.set(key, 2)
    table.set(300_001, 3)  # grows the dense part past 300_000
    assert table.get(300_000) == 1
    assert table.keys_where(lambda v: v == 1) == [300_000]
    assert table.pop(300_000) == 1
    assert table.get(300_000) is None
