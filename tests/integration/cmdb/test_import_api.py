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


def history_of(client: TestClient, headers: dict[str, str], key: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = client.get(
        f"/api/v1/cis/{key}/history", headers=headers
    ).json()["items"]
    return items


def test_imported_history_matches_what_single_writes_record(
    client: TestClient, db: Database
) -> None:
    headers = make_person(db, Role.OPERATOR).headers
    batch = {
        "cis": [{**BATCH["cis"][1], "owner_team": None, "attributes": {"b": 1, "a": [1, 2]}}],
    }
    assert client.post("/api/v1/cmdb/import", json=batch, headers=headers).status_code == 200
    assert client.post("/api/v1/cmdb/import", json=BATCH, headers=headers).status_code == 200
    (created,) = [h for h in history_of(client, headers, "pool") if h["op"] == "ci.create"]
    assert created["before"] is None
    assert created["after"] == {
        "key": "pool",
        "name": "Pool",
        "type": "service_pool",
        "environment": "production",
        "status": "operational",
        "criticality": 3,
        "owner_team": None,
        "min_up": "2",
        "attributes": {"a": [1, 2], "b": 1},
    }
    rels = [h for h in history_of(client, headers, "pool") if h["op"] == "rel.create"]
    links = client.get("/api/v1/cis/pool/relationships", headers=headers).json()
    assert sorted((h["ci_key"], h["other_key"]) for h in rels) == [
        ("i1", "pool"),
        ("i2", "pool"),
        ("shop", "pool"),
    ]
    by_source = {link["source"]: link for link in links}
    for h in rels:
        after = h["after"]
        assert isinstance(after, dict)
        link = by_source[str(h["ci_key"])]
        assert after == {
            "id": link["id"],
            "source": link["source"],
            "type": link["type"],
            "target": "pool",
            "optional": False,
        }
    assert {h["actor"] for h in rels} == {created["actor"]}


def test_an_import_brings_its_ci_types_and_teams(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN).headers
    port_type = {
        "name": "switch_port",
        "description": "A port on a switch",
        "attribute_schema": {
            "type": "object",
            "properties": {"speed": {"type": "integer"}},
            "required": ["speed"],
        },
    }
    batch = {
        "types": [port_type],
        "teams": [{"key": "netops", "name": "Network operations"}],
        "cis": [
            {"key": "p1", "name": "P1", "type": "switch_port", "attributes": {"speed": 10}},
            {"key": "sw", "name": "Switch", "type": "network", "owner_team": "netops"},
        ],
        "relationships": [{"source": "p1", "type": "connects_to", "target": "sw"}],
    }
    first = client.post("/api/v1/cmdb/import", json=batch, headers=admin).json()
    assert (first["types_created"], first["teams_created"], first["cis_created"]) == (1, 1, 2)
    types = {t["name"]: t for t in client.get("/api/v1/ci-types", headers=admin).json()}
    assert types["switch_port"]["attribute_schema"] == port_type["attribute_schema"]
    team = client.get("/api/v1/teams/netops", headers=admin).json()
    assert team["name"] == "Network operations" and team["members"] == []
    again = client.post("/api/v1/cmdb/import", json=batch, headers=admin).json()
    assert (again["types_created"], again["teams_created"], again["cis_unchanged"]) == (0, 0, 2)

    changed_type = {**batch, "types": [{**port_type, "attribute_schema": None}]}
    bad_attrs = {"cis": [{"key": "p2", "name": "P2", "type": "switch_port"}]}
    no_team = {"cis": [{"key": "sw2", "name": "Switch 2", "type": "network", "owner_team": "x"}]}
    twice = {"teams": [batch["teams"][0], batch["teams"][0]]}
    for rejected, words in [
        (changed_type, "types[0]: CI type 'switch_port' exists with a different attribute_schema"),
        (bad_attrs, "cis[0]: attributes do not match the schema of type 'switch_port'"),
        (no_team, "cis[0]: unknown owner_team 'x'"),
        (twice, "teams[1]: team 'netops' is listed twice"),
    ]:
        response = client.post("/api/v1/cmdb/import", json=rejected, headers=admin)
        assert response.status_code == 422, response.text
        assert words in response.json()["error"]["message"]
    assert client.get("/api/v1/cis/p2", headers=admin).status_code == 404


def test_creating_types_or_teams_by_import_needs_their_permissions(
    client: TestClient, db: Database
) -> None:
    operator = make_person(db, Role.OPERATOR).headers
    new_type = {"types": [{"name": "rack"}], "cis": [{"key": "r1", "name": "R1", "type": "rack"}]}
    new_team = {
        "teams": [{"key": "dc", "name": "Data centre"}],
        "cis": [{"key": "h1", "name": "H1", "type": "host", "owner_team": "dc"}],
    }
    for batch, permission in [(new_type, "cmdb_type:manage"), (new_team, "team:manage")]:
        response = client.post("/api/v1/cmdb/import", json=batch, headers=operator)
        assert response.status_code == 403, response.text
        assert permission in response.json()["error"]["message"]
    assert client.get("/api/v1/cis", headers=operator).json()["items"] == []
    types = [t["name"] for t in client.get("/api/v1/ci-types", headers=operator).json()]
    assert "rack" not in types


def test_min_up_counts_stored_members_and_the_batch_members_once(
    client: TestClient, db: Database
) -> None:
    headers = make_person(db, Role.OPERATOR).headers
    instances = [{"key": f"i{n}", "name": f"I{n}", "type": "instance"} for n in range(1, 5)]
    pool = {"key": "pool", "name": "Pool", "type": "service_pool", "min_up": "2"}

    def member(n: int) -> dict[str, str]:
        return {"source": f"i{n}", "type": "member_of", "target": "pool"}

    stored = {"cis": [pool, *instances], "relationships": [member(1), member(2)]}
    assert client.post("/api/v1/cmdb/import", json=stored, headers=headers).status_code == 200
    # the pool with a larger min_up and only some of its members: the stored ones count too
    grown = {"cis": [{**pool, "min_up": "3"}], "relationships": [member(3)]}
    response = client.post("/api/v1/cmdb/import", json=grown, headers=headers)
    assert response.status_code == 200, response.text
    # a member sent again is still one member: 3 members cannot meet min_up 4
    resent = {"cis": [{**pool, "min_up": "4"}], "relationships": [member(1)]}
    response = client.post("/api/v1/cmdb/import", json=resent, headers=headers)
    assert response.status_code == 422, response.text
    assert "min_up 4 of 'pool' is larger than the pool: it has 3 members" in response.text
    assert client.get("/api/v1/cis/pool", headers=headers).json()["min_up"] == "3"


def test_a_pool_sent_again_unchanged_is_not_rechecked(client: TestClient, db: Database) -> None:
    headers = make_person(db, Role.OPERATOR).headers
    pool = {"key": "pool", "name": "Pool", "type": "service_pool", "min_up": "2"}
    batch = {
        "cis": [pool, *[{"key": f"i{n}", "name": f"I{n}", "type": "instance"} for n in (1, 2)]],
        "relationships": [
            {"source": f"i{n}", "type": "member_of", "target": "pool"} for n in (1, 2)
        ],
    }
    assert client.post("/api/v1/cmdb/import", json=batch, headers=headers).status_code == 200
    links = client.get("/api/v1/cis/pool/relationships", headers=headers).json()
    gone = client.delete(f"/api/v1/relationships/{links[0]['id']}", headers=headers)
    assert gone.status_code == 204
    # a discovery run sends the pool as it was; its min_up did not change, so the batch
    # is not rejected for a member that was removed meanwhile
    again = client.post("/api/v1/cmdb/import", json={"cis": [pool]}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["cis_unchanged"] == 1
    raised = client.post(
        "/api/v1/cmdb/import", json={"cis": [{**pool, "min_up": "3"}]}, headers=headers
    )
    assert raised.status_code == 422
    assert "min_up 3 of 'pool' is larger than the pool: it has 1 members" in raised.text
