"""Bulk import through the API: idempotent upsert, all-or-nothing batches."""

from __future__ import annotations

from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.db import Database
from tests.factories import make_person

BATCH = {
    "cis": [
        {"key": "shop", "name": "Shop", "type": "business_service", "criticality": 1},
        {"key": "pool", "name": "Pool", "type": "service_pool", "min_up": "2"},
        {"key": "i1", "name": "I1", "type": "instance"},
        {"key": "i2", "name": "I2", "type": "instance"},
        {"key": "t1", "name": "T1", "type": "tenant"},
    ],
    "relationships": [
        {"source": "shop", "type": "depends_on", "target": "pool"},
        {"source": "i1", "type": "member_of", "target": "pool"},
        {"source": "i2", "type": "member_of", "target": "pool"},
        {"source": "t1", "type": "uses", "target": "shop"},
    ],
}


def test_import_is_an_idempotent_upsert(client: TestClient, db: Database) -> None:
    headers = make_person(db, Role.OPERATOR).headers
    first = client.post("/api/v1/cmdb/import", json=BATCH, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "cis_created": 5,
        "cis_updated": 0,
        "cis_unchanged": 0,
        "relationships_created": 4,
        "relationships_unchanged": 0,
        "types_created": 0,
        "teams_created": 0,
    }
    again = client.post("/api/v1/cmdb/import", json=BATCH, headers=headers).json()
    assert again["cis_unchanged"] == 5 and again["relationships_unchanged"] == 4
    changed = {"cis": [{**BATCH["cis"][0], "name": "Storefront"}]}
    third = client.post("/api/v1/cmdb/import", json=changed, headers=headers).json()
    assert "cis_updated" in third, third
    assert third["cis_updated"] == 1
    shop = client.get("/api/v1/cis/shop", headers=headers).json()
    assert shop["name"] == "Storefront" and shop["version"] == 2
    history = client.get("/api/v1/cis/shop/history", headers=headers).json()["items"]
    assert [h["op"] for h in history][:2] == ["ci.update", "rel.create"]
    impact = client.get("/api/v1/cis/i1/impact", headers=headers).json()
    assert impact["business_services"][0]["redundancy_left"] == 0
    assert impact["tenants_affected"] == 1


def test_a_bad_row_rejects_the_whole_batch(client: TestClient, db: Database) -> None:
    headers = make_person(db, Role.OPERATOR).headers
    bad_rows = [
        {**BATCH, "cis": [*BATCH["cis"], {"key": "x", "name": "X", "type": "ufo"}]},
        {
            **BATCH,
            "relationships": [
                *BATCH["relationships"],
                {"source": "i1", "type": "runs_on", "target": "h9"},
            ],
        },
        {**BATCH, "cis": [{**BATCH["cis"][1], "min_up": "3"}, *BATCH["cis"][2:]]},
        {**BATCH, "cis": [*BATCH["cis"], BATCH["cis"][0]]},
    ]
    expected = [
        "unknown CI type 'ufo'",
        "no configuration item 'h9'",
        "larger than the pool",
        "twice",
    ]
    for batch, words in zip(bad_rows, expected, strict=True):
        response = client.post("/api/v1/cmdb/import", json=batch, headers=headers)
        assert response.status_code == 422, response.text
        assert words in response.json()["error"]["message"]
        assert response.json()["error"]["details"]
    assert client.get("/api/v1/cis", headers=headers).json()["items"] == []
    auditor = make_person(db, Role.AUDITOR).headers
    events = client.get("/api/v1/audit?action=cmdb.import", headers=auditor).json()["items"]
    assert events == []
