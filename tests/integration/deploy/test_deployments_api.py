"""Deployments through the API: real HAProxy, real storefront processes, DBOS durable runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.cmdb import service as cmdb_service
from flywheel.db import Database
from tests.deploy_support import LoadGenerator, Pool, running_pool
from tests.factories import make_ci, make_deployable_pool, make_person, relate

FINAL = {"succeeded", "rolled_back", "failed", "aborted"}
FAST = {"bake_s": 1.0, "drain_timeout_s": 5, "health_timeout_s": 15, "min_requests": 10}


@pytest.fixture
def shop(tmp_path: Path, db: Database) -> Iterator[Pool]:
    """Three storefront instances on v1 behind a real HAProxy, described in the CMDB."""
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


def _wait_final(client: TestClient, token: str, deployment_id: int, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/deployments/{deployment_id}", headers=_auth(token)).json()
        if body["state"] in FINAL:
            return body
        time.sleep(0.2)
    raise AssertionError(f"deployment {deployment_id} still {body['state']}: {body['steps'][-3:]}")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _staging(client: TestClient, db: Database) -> str:
    admin = make_person(db, Role.ADMIN)
    answer = client.put(
        "/api/v1/environments/staging", json={"rank": 1}, headers=_auth(admin.token)
    )
    assert answer.status_code == 200, answer.text
    return admin.token


def test_rolling_bounce_serves_every_request_and_records_each_step(
    client: TestClient, db: Database, shop: Pool
) -> None:
    token = _staging(client, db)
    with LoadGenerator(shop.frontend_port) as traffic:
        answer = client.post(
            "/api/v1/deployments",
            json={"pool": "shop-pool", "version": "v2", "environment": "staging", "settings": FAST},
            headers=_auth(token),
        )
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert created["plan"]["batches"] == [["web-1"], ["web-2"], ["web-3"]]
        assert created["previous_version"] == "v1"
        done = _wait_final(client, token, created["id"])
    assert done["state"] == "succeeded", done["status_reason"]
    assert traffic.result.ok > 100
    assert traffic.result.failed == 0, traffic.result.failures
    assert {shop.target.running_version(i) for i in shop.instances} == {"v2"}
    actions = [s["action"] for s in done["steps"] if s["batch"] == 0]
    assert actions == [
        "gate",
        "drain",
        "wait_drained",
        "disable",
        "stop",
        "start",
        "wait_healthy",
        "enable",
        "bake",
    ]
    assert all(s["state"] == "done" for s in done["steps"])
    servers = {s.server: s.status for s in shop.haproxy.load_balancer.stats(shop.backend)}
    assert all(status.startswith("UP") for status in servers.values()), servers


def test_faulty_version_is_rolled_back_with_evidence(
    client: TestClient, db: Database, shop: Pool
) -> None:
    token = _staging(client, db)
    with LoadGenerator(shop.frontend_port):
        answer = client.post(
            "/api/v1/deployments",
            json={
                "pool": "shop-pool",
                "version": "v2-faulty",
                "environment": "staging",
                "settings": {**FAST, "bake_s": 2.0},
            },
            headers=_auth(token),
        )
        assert answer.status_code == 201, answer.text
        done = _wait_final(client, token, answer.json()["id"])
    assert done["state"] == "rolled_back", done["status_reason"]
    assert "failed" in done["status_reason"]
    assert done["evidence"]["failure"]["action"] == "bake"
    assert {shop.target.running_version(i) for i in shop.instances} == {"v1"}
    assert any(s["phase"] == "rollback" for s in done["steps"])


def test_production_without_a_change_is_blocked_and_an_operator_may_override(
    client: TestClient, db: Database, shop: Pool
) -> None:
    dev = make_person(db, Role.DEVELOPER)
    body = {"pool": "shop-pool", "version": "v2", "settings": FAST}
    blocked = client.post("/api/v1/deployments", json=body, headers=_auth(dev.token))
    assert blocked.status_code == 409
    assert "no change request" in blocked.json()["error"]["message"]
    overriding = {**body, "override_gates": {"reason": "hotfix agreed on the bridge"}}
    refused = client.post("/api/v1/deployments", json=overriding, headers=_auth(dev.token))
    assert refused.status_code == 403
    operator = make_person(db, Role.OPERATOR)
    answer = client.post("/api/v1/deployments", json=overriding, headers=_auth(operator.token))
    assert answer.status_code == 201, answer.text
    change_gate = next(g for g in answer.json()["gates"] if g["gate"] == "change")
    assert change_gate["overridden"]["reason"] == "hotfix agreed on the bridge"
    assert _wait_final(client, operator.token, answer.json()["id"])["state"] == "succeeded"


def test_a_second_run_on_the_same_pool_is_refused(
    client: TestClient, db: Database, shop: Pool
) -> None:
    token = _staging(client, db)
    body = {
        "pool": "shop-pool",
        "version": "v2",
        "environment": "staging",
        "settings": {**FAST, "bake_s": 3.0},
    }
    first = client.post("/api/v1/deployments", json=body, headers=_auth(token))
    assert first.status_code == 201, first.text
    second = client.post(
        "/api/v1/deployments", json={**body, "version": "v3"}, headers=_auth(token)
    )
    assert second.status_code == 409
    assert f"deployment {first.json()['id']}" in second.json()["error"]["message"]
    _wait_final(client, token, first.json()["id"])


def test_abort_rolls_back_the_batches_done(client: TestClient, db: Database, shop: Pool) -> None:
    token = _staging(client, db)
    body = {
        "pool": "shop-pool",
        "version": "v2",
        "environment": "staging",
        "settings": {**FAST, "bake_s": 2.0},
    }
    created = client.post("/api/v1/deployments", json=body, headers=_auth(token)).json()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        steps = client.get(f"/api/v1/deployments/{created['id']}", headers=_auth(token)).json()
        if any(s["action"] == "bake" for s in steps["steps"]):
            break
        time.sleep(0.1)
    answer = client.post(
        f"/api/v1/deployments/{created['id']}/abort",
        json={"reason": "wrong build"},
        headers=_auth(token),
    )
    assert answer.status_code == 200, answer.text
    done = _wait_final(client, token, created["id"])
    assert done["state"] == "aborted"
    assert {shop.target.running_version(i) for i in shop.instances} == {"v1"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"pool": "nope", "version": "v2"}, "no configuration item"),
        ({"pool": "shop", "version": "v2"}, "not a service_pool"),
        ({"version": "v2"}, "name the pool"),
        ({"pool": "shop-pool", "version": "bad version!"}, "version"),
        ({"pool": "shop-pool", "version": "v2", "settings": {"batch_size": 0}}, "batch_size"),
    ],
)
def test_bad_requests_are_refused_clearly(
    client: TestClient, db: Database, shop: Pool, body: dict[str, Any], message: str
) -> None:
    token = _staging(client, db)
    answer = client.post("/api/v1/deployments", json=body, headers=_auth(token))
    assert answer.status_code in (404, 422), answer.text
    assert message in answer.text
    listed = client.get("/api/v1/deployments", headers=_auth(token)).json()
    assert listed["items"] == []


def _deploy(client: TestClient, token: str, **body: Any) -> Any:
    payload = {"pool": "shop-pool", "environment": "staging", **body}
    return client.post("/api/v1/deployments", json=payload, headers=_auth(token))


def _all_in_rotation_on(shop: Pool, version: str) -> None:
    assert {shop.target.running_version(i) for i in shop.instances} == {version}
    stats = shop.haproxy.load_balancer.stats(shop.backend)
    assert all(s.status.startswith("UP") for s in stats), stats


def test_a_version_that_never_turns_healthy_is_rolled_back(
    client: TestClient, db: Database, shop: Pool
) -> None:
    token = _staging(client, db)
    with db.session(write=True) as session:
        pool = cmdb_service.get_ci(session, key="shop-pool")
        deploy = pool.attributes["deploy"]
        target = {
            **deploy["target"],
            "version_args": {"v2-broken": ["--fail-rate", "1", "--fail-health"]},
        }
        pool.attributes = {"deploy": {**deploy, "target": target}}
        session.commit()
    answer = _deploy(client, token, version="v2-broken", settings={**FAST, "health_timeout_s": 2})
    assert answer.status_code == 201, answer.text
    done = _wait_final(client, token, answer.json()["id"])
    assert done["state"] == "rolled_back"
    assert "did not pass the health check within 2 s" in done["status_reason"]
    _all_in_rotation_on(shop, "v1")


def test_a_drain_that_never_empties_is_forced_after_its_timeout(
    client: TestClient, db: Database, shop: Pool
) -> None:
    token = _staging(client, db)
    slow = threading.Thread(
        target=lambda: [
            httpx.get(f"http://127.0.0.1:{shop.frontend_port}/api/slow?seconds=4", timeout=20)
            for _ in range(3)
        ],
        daemon=True,
    )
    slow.start()
    time.sleep(0.3)
    answer = _deploy(
        client, token, version="v2", settings={**FAST, "batch_size": 3, "drain_timeout_s": 0.5}
    )
    assert answer.status_code == 201, answer.text
    done = _wait_final(client, token, answer.json()["id"])
    assert done["state"] == "succeeded", done["status_reason"]
    drained = next(s for s in done["steps"] if s["action"] == "wait_drained")
    assert drained["detail"]["forced"] is True
    assert drained["detail"]["sessions_left"]
    slow.join(timeout=30)
    _all_in_rotation_on(shop, "v2")


@pytest.mark.parametrize(
    ("balancer", "status", "message"),
    [
        ({"socket": "/nonexistent/haproxy.sock"}, 409, "does not answer"),
        ({"backend": "elsewhere"}, 409, "No such proxy"),
    ],
)
def test_a_broken_load_balancer_setting_refuses_the_run_before_anything_is_touched(
    client: TestClient,
    db: Database,
    shop: Pool,
    balancer: dict[str, str],
    status: int,
    message: str,
) -> None:
    token = _staging(client, db)
    with db.session(write=True) as session:
        pool = cmdb_service.get_ci(session, key="shop-pool")
        deploy = pool.attributes["deploy"]
        lb = {**deploy["load_balancer"], **balancer}
        pool.attributes = {"deploy": {**deploy, "load_balancer": lb}}
        session.commit()
    answer = _deploy(client, token, version="v2", settings=FAST)
    assert answer.status_code == status, answer.text
    assert message in answer.text
    _all_in_rotation_on(shop, "v1")


def test_a_server_the_backend_does_not_know_is_named(
    client: TestClient, db: Database, shop: Pool
) -> None:
    token = _staging(client, db)
    with db.session(write=True) as session:
        instance = cmdb_service.get_ci(session, key=shop.instances[0].key)
        instance.attributes = {**instance.attributes, "lb_server": "ghost"}
        session.commit()
    answer = _deploy(client, token, version="v2", settings=FAST)
    assert answer.status_code == 422
    assert "no server ghost" in answer.text


def test_a_service_is_deployed_through_its_own_nearest_pool(
    client: TestClient, db: Database, shop: Pool
) -> None:
    token = _staging(client, db)
    with db.session(write=True) as session:
        # shop-app also calls a search service with a pool of its own, further away
        make_ci(session, "search-app")
        make_ci(session, "search-pool", "service_pool")
        relate(session, "shop-app", "depends_on", "search-app")
        relate(session, "search-app", "depends_on", "search-pool")
        session.commit()
    answer = client.post(
        "/api/v1/deployments",
        json={"service": "shop", "version": "v2", "environment": "staging", "settings": FAST},
        headers=_auth(token),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["pool"] == "shop-pool"
    assert _wait_final(client, token, answer.json()["id"])["state"] == "succeeded"
