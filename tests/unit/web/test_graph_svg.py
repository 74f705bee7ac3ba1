"""The drawn neighbourhood of a CI."""

from __future__ import annotations

from flywheel.web.graph_svg import MAX_PER_COLUMN, Edge, Neighbour, Node, draw, layout


def test_columns_and_edges_around_the_ci() -> None:
    centre = Node("app", "application", "App")
    needed_by = [Neighbour("shop", "business_service", "depends_on")]
    needs = [Neighbour("pool", "service_pool", "depends_on"), Neighbour("db", "database", "x")]
    second = [Edge("pool", "lb", "balanced_by")]
    columns, edges = layout(centre, needed_by, needs, second, {"lb": "load_balancer"})
    assert [[n.key for n in c] for c in columns] == [["shop"], ["app"], ["pool", "db"], ["lb"]]
    assert columns[3][0].type == "load_balancer"
    assert {(e.source, e.target) for e in edges} == {
        ("shop", "app"),
        ("app", "pool"),
        ("app", "db"),
        ("pool", "lb"),
    }
    svg = str(draw(columns, edges, title="App & friends"))
    assert svg.startswith('<svg class="graph" role="img"')
    assert svg.count("<rect") == 5 and svg.count('class="edge"') == 4
    assert '<a href="/cmdb/ci/pool">' in svg and '<a href="/cmdb/ci/app">' not in svg
    assert "App &amp; friends" in svg


def test_crowded_types_become_one_box() -> None:
    tenants = [Neighbour(f"t{i}", "tenant", "uses") for i in range(500)]
    columns, edges = layout(Node("shop", "business_service", "Shop"), tenants, [], [], {})
    assert len(columns[0]) == 1 and columns[0][0].count == 500
    assert columns[0][0].label == "500 x tenant"
    assert len(edges) == 1
    mixed = [Neighbour(f"a{i}", f"type{i}", "depends_on") for i in range(MAX_PER_COLUMN + 4)]
    columns, _ = layout(Node("x", "host", "X"), mixed, [], [], {})
    assert len(columns[0]) <= MAX_PER_COLUMN


def test_labels_are_escaped_and_shortened() -> None:
    columns, edges = layout(
        Node("k", "host", "<script>alert(1)</script> a very long name indeed"), [], [], [], {}
    )
    svg = str(draw(columns, edges, title="t"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "…" in svg
