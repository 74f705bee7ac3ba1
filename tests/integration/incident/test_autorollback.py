"""Automatic rollback end to end: a probe fails after a real deployment, policy decides.

Real storefront processes behind a real HAProxy, deployed and rolled back by the real
engine; the incident comes from a built-in probe of the storefront's /version through
HAProxy, which expects the known-good version (the deployment breaks that contract).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from flywheel.audit.models import AuditEvent
from flywheel.auth.roles import Role
from flywheel.db import Database
from flywheel.deploy.models import Deployment
from flywheel.incident import autorollback
from tests.deploy_support import Pool, running_pool
from tests.factories import (
    Person,
    am_alert,
    am_payload,
    make_deployable_pool,
    make_integration,
    make_person,
)

FINAL = {"succeeded", "rolled_back", "failed", "aborted"}
FAST = {"bake_s": 0.5, "health_timeout_s": 15}


@pytest.fixture
def shop(tmp_path: Path, db: Database) -> Iterator[Pool]:
    with running_pool(tmp_path, size=2, version="v1") as pool:
        with db.session(write=True) as session:
            make_deployable_pool(
                session,
                instances=pool.instances,
                state_dir=str(pool.target.state_dir),
                socket=str(pool.haproxy.config.socket_path),
                backend=pool.backend,
                min_up="50%",
            )
            session.commit()
        yield pool


@pytest.fixture
def operator(db: Database) -> Person:
    return make_person(db, Role.OPERATOR, username="olga")


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


def _deploy_v2(client: TestClient, operator: Person, shop: Pool) -> dict[str, Any]:
    admin = make_person(client.app.state.db, Role.ADMIN)  # type: ignore[attr-defined]
    client.put("/api/v1/environments/staging", json={"rank": 1}, headers=admin.headers)
    answer = client.post(
        "/api/v1/deployments",
        json={"pool": "shop-pool", "version": "v2", "environment": "staging", "settings": FAST},
        headers=operator.headers,
    )
    assert answer.status_code in (201, 202), answer.text
    run = _finished(client, operator, answer.json()["id"])
    assert run["state"] == "succeeded", run["status_reason"]
    assert {shop.target.running_version(i) for i in shop.instances} == {"v2"}
    return run


def _smoke_probe(client: TestClient, operator: Person, shop: Pool) -> None:
    body = {
        "name": "shop-version",
        "ci_key": "shop-app",
        "url": f"http://127.0.0.1:{shop.frontend_port}/version",
        "body_contains": '"version":"v1"',
        "timeout_s": 2,
    }
    made = client.post("/api/v1/probes", json=body, headers=operator.headers)
    assert made.status_code == 201, made.text


def _run_probe(client: TestClient, operator: Person) -> dict[str, Any]:
    answer = client.post("/api/v1/probes/shop-version/run", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()
    return run


def _only_incident(client: TestClient, who: Person) -> dict[str, Any]:
    items = client.get("/api/v1/incidents", headers=who.headers).json()["items"]
    assert len(items) == 1, items
    detail: dict[str, Any] = client.get(
        f"/api/v1/incidents/{items[0]['id']}", headers=who.headers
    ).json()
    return detail


def _policy(client: TestClient, who: Person, **body: Any) -> None:
    answer = client.put("/api/v1/autorollback-policies/shop", json=body, headers=who.headers)
    assert answer.status_code == 200, answer.text


def _rollbacks(db: Database) -> list[Deployment]:
    with db.session() as session:
        query = select(Deployment).where(Deployment.rollback_of.is_not(None))
        return list(session.scalars(query))


def test_the_policy_rolls_back_the_fresh_deployment_that_broke_the_probe(
    client: TestClient, db: Database, shop: Pool, operator: Person
) -> None:
    _policy(client, operator, environments=["staging"], min_score=0.5, window_minutes=30)
    v2 = _deploy_v2(client, operator, shop)
    _smoke_probe(client, operator, shop)

    failed = _run_probe(client, operator)
    assert failed["ok"] is False and "v1" in failed["error"]
    incident = _only_incident(client, operator)
    automatic = [e for e in incident["timeline"] if e["kind"] == "rollback"]
    assert len(automatic) == 1, incident["timeline"]
    assert automatic[0]["summary"].startswith(f"rolled back deployment {v2['id']} (shop v2)")
    assert "automatically: policy staging deployment" in automatic[0]["summary"]
    assert automatic[0]["data"]["automatic"] is True
    [rollback] = _rollbacks(db)
    assert rollback.rollback_of == v2["id"]
    done = _finished(client, operator, rollback.id)
    assert done["state"] == "succeeded", done["status_reason"]
    assert {shop.target.running_version(i) for i in shop.instances} == {"v1"}

    decisions = client.get(
        f"/api/v1/incidents/{incident['id']}/autorollback", headers=operator.headers
    ).json()
    assert [(d["outcome"], d["rollback_id"]) for d in decisions] == [("rolled_back", rollback.id)]
    with db.session() as session:
        actions = set(
            session.scalars(
                select(AuditEvent.action).where(AuditEvent.actor == "system:autorollback")
            )
        )
    assert {"incident.autorollback", "deploy.rollback"} <= actions

    # The service recovers: the probe passes, its alert and the incident resolve.
    assert _run_probe(client, operator)["ok"] is True
    assert _only_incident(client, operator)["state"] == "resolved"
    # Failing again reopens the incident; the same deployment is never rolled back twice.
    shop_v2_again = {"body_contains": '"version":"v0"', "version": 1}
    patched = client.patch(
        "/api/v1/probes/shop-version", json=shop_v2_again, headers=operator.headers
    )
    assert patched.status_code == 200, patched.text
    assert _run_probe(client, operator)["ok"] is False
    assert _only_incident(client, operator)["state"] != "resolved"
    assert len(_rollbacks(db)) == 1


def test_a_suspect_the_policy_does_not_cover_gets_a_reason_on_the_timeline(
    client: TestClient, db: Database, shop: Pool, operator: Person
) -> None:
    _policy(client, operator, environments=["production"])
    v2 = _deploy_v2(client, operator, shop)
    _smoke_probe(client, operator, shop)

    assert _run_probe(client, operator)["ok"] is False
    incident = _only_incident(client, operator)
    declined = [e for e in incident["timeline"] if e["kind"] == "rollback.declined"]
    assert [e["summary"] for e in declined] == [
        f"not rolled back automatically: deployment {v2['id']} (shop v2), "
        "because it deployed to staging, not production"
    ]
    assert _rollbacks(db) == []
    assert {shop.target.running_version(i) for i in shop.instances} == {"v2"}
    # One-action rollback stays available to the responder.
    suspects = client.get(
        f"/api/v1/incidents/{incident['id']}/suspects", headers=operator.headers
    ).json()
    assert suspects[0]["deployment_id"] == v2["id"]


def test_a_failing_decision_never_loses_the_batch(
    client: TestClient, db: Database, operator: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("policy store unreachable")

    monkeypatch.setattr(autorollback, "consider", broken)
    token = make_integration(db)
    answer = client.post(
        "/api/v1/integrations/alertmanager",
        json=am_payload(am_alert("fp-1", instance="db1", service="shop")),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["incidents_opened"]) == 1
    assert _only_incident(client, operator)["state"] == "triggered"
