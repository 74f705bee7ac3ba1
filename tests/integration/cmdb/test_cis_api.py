"""CIs, types and relationships through the API: history, validation, conflicts."""

from __future__ import annotations

from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.db import Database
from tests.factories import Person, make_person


def ops(db: Database) -> Person:
    return make_person(db, Role.OPERATOR)


def post_ci(client: TestClient, who: Person, **body: object) -> int:
    return client.post("/api/v1/cis", json=body, headers=who.headers).status_code


def test_create_read_update_with_history(client: TestClient, db: Database) -> None:
    who = ops(db)
    body = {"key": "pay-db", "name": "Payments DB", "type": "database", "criticality": 1}
    created = client.post("/api/v1/cis", json=body, headers=who.headers)
    assert created.status_code == 201, created.text
    assert created.json()["environment"] == "production"
    patch = {"version": created.json()["version"], "criticality": 2, "attributes": {"engine": "pg"}}
    updated = client.patch("/api/v1/cis/pay-db", json=patch, headers=who.headers)
    assert updated.status_code == 200, updated.text
    assert updated.json()["attributes"] == {"engine": "pg"}
    history = client.get("/api/v1/cis/pay-db/history", headers=who.headers).json()["items"]
    assert [h["op"] for h in history] == ["ci.update", "ci.create"]
    assert history[0]["before"]["criticality"] == 1
    assert history[0]["after"]["criticality"] == 2
    assert history[0]["actor"] == who.username
    audit = client.get(
        "/api/v1/audit?object_type=ci&object_id=pay-db",
        headers=make_person(db, Role.AUDITOR).headers,
    ).json()["items"]
    assert [e["action"] for e in audit] == ["cmdb.ci.create", "cmdb.ci.update"]


def test_listing_filters(client: TestClient, db: Database) -> None:
    who = ops(db)
    for i in range(3):
        post_ci(client, who, key=f"host-{i}", name="h", type="host")
    post_ci(client, who, key="db-0", name="d", type="database", environment="staging")
    hosts = client.get("/api/v1/cis?type=host", headers=who.headers).json()["items"]
    assert [c["key"] for c in hosts] == ["host-0", "host-1", "host-2"]
    staging = client.get("/api/v1/cis?environment=staging", headers=who.headers).json()["items"]
    assert [c["key"] for c in staging] == ["db-0"]
    page = client.get("/api/v1/cis?limit=2", headers=who.headers).json()
    rest = client.get(f"/api/v1/cis?cursor={page['next_cursor']}", headers=who.headers).json()
    assert len(page["items"]) + len(rest["items"]) == 4


def test_bad_cis_are_refused_and_nothing_changes(client: TestClient, db: Database) -> None:
    who = ops(db)
    assert post_ci(client, who, key="web", name="Web", type="application") == 201
    cases = [
        ({"key": "x1", "name": "X", "type": "spaceship"}, 422, "unknown CI type"),
        ({"key": "web", "name": "Again", "type": "application"}, 409, "already exists"),
        ({"key": "x2", "name": "X", "type": "host", "criticality": 7}, 422, "criticality"),
        ({"key": "x3", "name": "X", "type": "host", "owner_team": "ghosts"}, 422, "owner_team"),
        ({"key": "bad key", "name": "X", "type": "host"}, 422, "key"),
        ({"key": "x4", "name": "X", "type": "host", "color": "red"}, 422, "color"),
        ({"key": "x5", "name": "X", "type": "service_pool", "min_up": "150%"}, 422, "min_up"),
    ]
    for body, code, words in cases:
        response = client.post("/api/v1/cis", json=body, headers=who.headers)
        assert response.status_code == code, (body, response.text)
        assert words in response.json()["error"]["message"], response.text
    listed = client.get("/api/v1/cis", headers=who.headers).json()["items"]
    assert [c["key"] for c in listed] == ["web"]


def test_type_schema_validates_attributes(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    schema = {
        "type": "object",
        "properties": {"region": {"type": "string"}, "cores": {"type": "integer", "minimum": 1}},
        "required": ["region"],
    }
    made = client.post(
        "/api/v1/ci-types",
        json={"name": "vm", "attribute_schema": schema},
        headers=admin.headers,
    )
    assert made.status_code == 201
    bad = client.post(
        "/api/v1/cis",
        json={"key": "vm1", "name": "VM", "type": "vm", "attributes": {"cores": 0}},
        headers=admin.headers,
    )
    assert bad.status_code == 422
    assert "region" in bad.json()["error"]["message"]
    assert "cores" in bad.json()["error"]["message"]
    good = {"key": "vm1", "name": "VM", "type": "vm", "attributes": {"region": "eu", "cores": 2}}
    assert post_ci(client, admin, **good) == 201
    broken_schema = client.post(
        "/api/v1/ci-types",
        json={"name": "odd", "attribute_schema": {"type": 5}},
        headers=admin.headers,
    )
    assert broken_schema.status_code == 422
    duplicate = client.post("/api/v1/ci-types", json={"name": "vm"}, headers=admin.headers)
    assert duplicate.status_code == 409
    types = [t["name"] for t in client.get("/api/v1/ci-types", headers=admin.headers).json()]
    assert "tenant" in types and "vm" in types and "odd" not in types


def test_relationships(client: TestClient, db: Database) -> None:
    who = ops(db)
    for key, kind in [("shop", "business_service"), ("app", "application"), ("t1", "tenant")]:
        assert post_ci(client, who, key=key, name=key, type=kind) == 201
    rel = {"source": "shop", "type": "depends_on", "target": "app"}
    made = client.post("/api/v1/relationships", json=rel, headers=who.headers)
    assert made.status_code == 201, made.text
    again = client.post("/api/v1/relationships", json=rel, headers=who.headers)
    assert again.status_code == 409
    bad = [
        ({"source": "shop", "type": "depends_on", "target": "nowhere"}, "nowhere"),
        ({"source": "app", "type": "uses", "target": "shop"}, "tenant"),
        ({"source": "t1", "type": "uses", "target": "app"}, "business_service"),
        ({"source": "app", "type": "member_of", "target": "shop"}, "service_pool"),
        ({"source": "app", "type": "likes", "target": "shop"}, "type"),
        ({"source": "app", "type": "depends_on", "target": "app"}, "itself"),
    ]
    for body, words in bad:
        response = client.post("/api/v1/relationships", json=body, headers=who.headers)
        assert response.status_code == 422, body
        assert words in response.json()["error"]["message"]
    listed = client.get("/api/v1/cis/app/relationships", headers=who.headers).json()
    assert [(r["source"], r["type"], r["target"]) for r in listed] == [
        ("shop", "depends_on", "app")
    ]
    rel_id = made.json()["id"]
    assert client.delete(f"/api/v1/relationships/{rel_id}", headers=who.headers).status_code == 204
    assert client.delete(f"/api/v1/relationships/{rel_id}", headers=who.headers).status_code == 404
    history = client.get("/api/v1/cis/app/history", headers=who.headers).json()["items"]
    assert [h["op"] for h in history] == ["rel.delete", "rel.create", "ci.create"]


def test_min_up_cannot_exceed_the_pool(client: TestClient, db: Database) -> None:
    who = ops(db)
    post_ci(client, who, key="pool", name="Pool", type="service_pool", min_up="2")
    for i in range(3):
        post_ci(client, who, key=f"i{i}", name="i", type="instance")
        rel = {"source": f"i{i}", "type": "member_of", "target": "pool"}
        client.post("/api/v1/relationships", json=rel, headers=who.headers)
    version = client.get("/api/v1/cis/pool", headers=who.headers).json()["version"]
    too_many = client.patch(
        "/api/v1/cis/pool", json={"version": version, "min_up": 4}, headers=who.headers
    )
    assert too_many.status_code == 422
    assert "larger than the pool" in too_many.json()["error"]["message"]
    fine = client.patch(
        "/api/v1/cis/pool", json={"version": version, "min_up": "100%"}, headers=who.headers
    )
    assert fine.status_code == 200
    assert fine.json()["min_up"] == "100%"
    stale = client.patch(
        "/api/v1/cis/pool", json={"version": version, "min_up": 1}, headers=who.headers
    )
    assert stale.status_code == 409
    assert client.get("/api/v1/cis/pool", headers=who.headers).json()["min_up"] == "100%"
