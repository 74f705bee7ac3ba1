"""From incident to cause: ranked suspects, one-action rollback, confirmed cause, the P1 gate.

Real storefront processes behind a real HAProxy, deployed by the real engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.db import Database
from tests.deploy_support import Pool, running_pool
from tests.factories import (
    Person,
    am_alert,
    am_payload,
    make_ci,
    make_deployable_pool,
    make_integration,
    make_person,
    relate,
)

FINAL = {"succeeded", "rolled_back", "failed", "aborted"}
FAST = {"bake_s": 0.5, "health_timeout_s": 15}


@pytest.fixture
def shop(tmp_path: Path, db: Database) -> Iterator[Pool]:
    with running_pool(tmp_path, size=3, version="v1") as pool:
        with db.session(write=True) as session:
            make_deployable_pool(
                session,
                instances=pool.instances,
                state_dir=str(pool.target.state_dir),
                socket=str(pool.haproxy.config.socket_path),
                backend=pool.backend,
            )
            session.commit()
        yield pool


def _deployed(client: TestClient, who: Person, version: str) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/deployments",
        json={"pool": "shop-pool", "version": version, "environment": "staging", "settings": FAST},
        headers=who.headers,
    )
    assert answer.status_code in (201, 202), answer.text
    return _finished(client, who, answer.json()["id"])


def _finished(client: TestClient, who: Person, deployment_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(
            f"/api/v1/deployments/{deployment_id}", headers=who.headers
        ).json()
        if run["state"] in FINAL:
            return run
        time.sleep(0.2)
    raise AssertionError(f"deployment {deployment_id} did not finish")


def _p1(client: TestClient, db: Database) -> dict[str, Any]:
    token = make_integration(db)
    alert = am_alert("fp-shop", instance="shop-app", severity="critical")
    answer = client.post(
        "/api/v1/integrations/alertmanager",
        json=am_payload(alert),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    admin = make_person(db, Role.ADMIN)
    incidents = client.get("/api/v1/incidents", headers=admin.headers).json()["items"]
    assert [i["priority"] for i in incidents] == ["P1"], incidents
    return incidents[0]


def test_the_last_deployment_is_the_top_suspect_and_one_action_rolls_it_back(
    client: TestClient, db: Database, shop: Pool
) -> None:
    operator = make_person(db, Role.OPERATOR)
    admin = make_person(db, Role.ADMIN)
    assert (
        client.put(
            "/api/v1/environments/staging", json={"rank": 1}, headers=admin.headers
        ).status_code
        == 200
    )
    older = _deployed(client, operator, "v2")
    newest = _deployed(client, operator, "v3")
    assert newest["state"] == "succeeded"
    incident = _p1(client, db)

    suspects = client.get(
        f"/api/v1/incidents/{incident['id']}/suspects", headers=operator.headers
    ).json()
    assert [s["deployment_id"] for s in suspects] == [newest["id"], older["id"]]
    assert suspects[0]["score"] > suspects[1]["score"]
    assert any("before detection" in r for r in suspects[0]["reasons"])

    blocked = client.post(
        "/api/v1/deployments",
        json={"pool": "shop-pool", "version": "v4", "environment": "staging"},
        headers=operator.headers,
    )
    assert blocked.status_code == 409
    assert "open P1 incident" in blocked.json()["error"]["message"]

    rollback = client.post(
        f"/api/v1/incidents/{incident['id']}/rollback",
        json={"deployment_id": newest["id"], "reason": "errors since v3"},
        headers=operator.headers,
    )
    assert rollback.status_code == 202, rollback.text
    assert rollback.json()["rollback_of"] == newest["id"]
    done = _finished(client, operator, rollback.json()["id"])
    assert done["state"] == "succeeded", done["status_reason"]
    assert {shop.target.running_version(i) for i in shop.instances} == {"v2"}
    timeline = client.get(f"/api/v1/incidents/{incident['id']}", headers=admin.headers).json()
    kinds = [e["kind"] for e in timeline["timeline"]]
    assert "rollback" in kinds


def test_confirming_a_cause_links_it_and_marks_the_change_failed(
    client: TestClient, db: Database
) -> None:
    dev = make_person(db, Role.DEVELOPER)
    carla = make_person(db, Role.CHANGE_MANAGER)
    with db.session(write=True) as session:
        make_ci(session, "shop", "business_service", criticality=1)
        make_ci(session, "shop-app")
        relate(session, "shop", "depends_on", "shop-app")
        session.commit()
    change = client.post(
        "/api/v1/changes",
        json={"service": "shop", "title": "hotfix", "receipt": True},
        headers=dev.headers,
    )
    assert change.status_code == 201, change.text
    incident = _p1(client, db)
    answer = client.post(
        f"/api/v1/incidents/{incident['id']}/cause",
        json={"change_id": change.json()["id"], "note": "the hotfix broke checkout"},
        headers=carla.headers,
    )
    assert answer.status_code == 204, answer.text
    after = client.get(f"/api/v1/changes/{change.json()['id']}", headers=dev.headers).json()
    assert after["close_code"] == "failed"
    detail = client.get(f"/api/v1/incidents/{incident['id']}", headers=dev.headers).json()
    assert any(link["ref"] == after["number"] for link in detail["links"])
    unknown = client.post(
        f"/api/v1/incidents/{incident['id']}/cause",
        json={"change_id": 999},
        headers=carla.headers,
    )
    assert unknown.status_code == 422
    assert "no change 999" in unknown.text


def test_a_responder_without_deploy_rights_cannot_roll_back(
    client: TestClient, db: Database
) -> None:
    auditor = make_person(db, Role.AUDITOR)
    answer = client.post(
        "/api/v1/incidents/1/rollback", json={"deployment_id": 1}, headers=auditor.headers
    )
    assert answer.status_code == 403


def test_an_incident_opened_during_the_rollout_rolls_it_back(
    client: TestClient, db: Database, shop: Pool
) -> None:
    operator = make_person(db, Role.OPERATOR)
    admin = make_person(db, Role.ADMIN)
    client.put("/api/v1/environments/staging", json={"rank": 1}, headers=admin.headers)
    answer = client.post(
        "/api/v1/deployments",
        json={
            "pool": "shop-pool",
            "version": "v2",
            "environment": "staging",
            "settings": {**FAST, "bake_s": 3},
        },
        headers=operator.headers,
    )
    assert answer.status_code == 201, answer.text
    run_id = answer.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/deployments/{run_id}", headers=operator.headers).json()
        if any(s["action"] == "bake" for s in run["steps"]):
            break
        time.sleep(0.05)
    incident = _p1(client, db)
    done = _finished(client, operator, run_id)
    assert done["state"] == "rolled_back"
    assert f"{incident['number']}" in done["status_reason"]
    assert "during the rollout" in done["status_reason"]
    assert {shop.target.running_version(i) for i in shop.instances} == {"v1"}
