"""Impact analysis through the API, on a small estate made by the product's own services."""

from __future__ import annotations

from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.db import Database
from tests.factories import make_estate, make_person


def estate(db: Database) -> dict[str, str]:
    with db.session(write=True) as session:
        make_estate(session)
        session.commit()
    return make_person(db, Role.DEVELOPER).headers


def test_one_instance_down_degrades_with_redundancy_left(client: TestClient, db: Database) -> None:
    headers = estate(db)
    impact = client.get("/api/v1/cis/web0/impact", headers=headers).json()
    assert impact["status"] == "degraded"
    (checkout,) = impact["business_services"]
    assert (checkout["key"], checkout["status"], checkout["redundancy_left"]) == (
        "checkout",
        "degraded",
        1,
    )
    assert checkout["path"] == ["web0", "pool", "checkout-app", "checkout"]
    assert "redundancy left: 1" in impact["summary"]
    assert impact["tenants_affected"] == 1
    assert [t["key"] for t in impact["top_tenants"]] == ["acme"]


def test_what_if_of_a_deploy_batch(client: TestClient, db: Database) -> None:
    headers = estate(db)
    two = client.post("/api/v1/impact", json={"keys": ["web0", "web1"]}, headers=headers).json()
    assert two["business_services"][0]["status"] == "degraded"
    assert two["business_services"][0]["redundancy_left"] == 0
    three = client.post(
        "/api/v1/impact", json={"keys": ["web0", "web1", "web2"]}, headers=headers
    ).json()
    assert three["status"] == "down"
    assert three["business_services"][0]["key"] == "checkout"


def test_shared_database_takes_down_one_service_and_degrades_another(
    client: TestClient, db: Database
) -> None:
    headers = estate(db)
    impact = client.get("/api/v1/cis/db1/impact", headers=headers).json()
    statuses = {s["key"]: s["status"] for s in impact["business_services"]}
    assert statuses == {"checkout": "down", "search": "degraded"}
    assert impact["tenants_affected"] == 2
    assert [t["key"] for t in impact["top_tenants"]] == ["acme", "bolt"]


def test_a_host_takes_out_its_instances(client: TestClient, db: Database) -> None:
    headers = estate(db)
    impact = client.get("/api/v1/cis/host0/impact", headers=headers).json()
    impaired = {c["key"]: c["status"] for c in impact["impaired"]}
    assert impaired["web0"] == "down" and impaired["web3"] == "down"
    assert impaired["pool"] == "degraded"


def test_index_follows_writes(client: TestClient, db: Database) -> None:
    headers = estate(db)
    admin = make_person(db, Role.ADMIN).headers
    assert client.get("/api/v1/cis/lb1/impact", headers=headers).json()["status"] == "down"
    rels = client.get("/api/v1/cis/lb1/relationships", headers=admin).json()
    assert client.delete(f"/api/v1/relationships/{rels[0]['id']}", headers=admin).status_code == 204
    after = client.get("/api/v1/cis/lb1/impact", headers=headers).json()
    assert after["business_services"] == []
    assert after["tenants_affected"] == 0
    pool = client.get("/api/v1/cis/pool", headers=admin).json()
    client.patch(
        "/api/v1/cis/pool", json={"version": pool["version"], "min_up": "5"}, headers=admin
    )
    single = client.get("/api/v1/cis/web0/impact", headers=headers).json()
    assert single["business_services"][0]["redundancy_left"] == 0


def test_dependencies_walk_downwards(client: TestClient, db: Database) -> None:
    headers = estate(db)
    deps = client.get("/api/v1/cis/checkout/dependencies", headers=headers).json()
    by_key = {d["key"]: d["depth"] for d in deps["dependencies"]}
    assert by_key["checkout-app"] == 1
    assert by_key["db1"] == 2
    assert by_key["lb1"] == 3
    assert by_key["host0"] == 4
    shallow = client.get("/api/v1/cis/checkout/dependencies?depth=1", headers=headers).json()
    assert [d["key"] for d in shallow["dependencies"]] == ["checkout-app"]


def test_unknown_keys_are_404(client: TestClient, db: Database) -> None:
    headers = estate(db)
    assert client.get("/api/v1/cis/nope/impact", headers=headers).status_code == 404
    missing = client.post("/api/v1/impact", json={"keys": ["web0", "nope"]}, headers=headers)
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]["message"]
    assert client.post("/api/v1/impact", json={"keys": []}, headers=headers).status_code == 422
