"""The software route end to end: problem → backlog item on a real local tracker → a change
carrying the fix comes through the pipeline API → a real rolling deployment to production →
the problem resolves, and closes after its quiet period."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flywheel.auth.actor import system_actor
from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.problem.verify_service import sweep
from tests.deploy_support import Pool, running_pool
from tests.factories import TrackerServer, make_deployable_pool, make_incident, make_person

FAST = {"bake_s": 0.5, "drain_timeout_s": 5, "health_timeout_s": 15, "min_requests": 0}
POLICY = "rules: [{name: flow, when: {type: normal}, then: auto_approve}]"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The suite's settings with the problem worker off: the test runs its passes itself."""
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key="test-secret",
        work_database_url=f"sqlite:///{tmp_path}/work.sqlite",
        problem_worker_seconds=0,
    )


@pytest.fixture
def shop(tmp_path: Path, db: Database) -> Iterator[Pool]:
    """Two storefront instances on v1 behind a real HAProxy, described in the CMDB."""
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


def _call(client: TestClient, token: str, method: str, path: str, body: Any = None) -> Any:
    answer = client.request(
        method, f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.is_success, f"{method} {path}: {answer.status_code} {answer.text}"
    return answer.json()


def _deployed(client: TestClient, token: str, deployment_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found: dict[str, Any] = _call(client, token, "GET", f"/deployments/{deployment_id}")
        if found["state"] in {"succeeded", "rolled_back", "failed", "aborted"}:
            return found
        time.sleep(0.3)
    raise AssertionError(f"deployment {deployment_id} did not finish")


def test_problem_to_backlog_to_deployed_fix_to_resolved(
    client: TestClient, db: Database, shop: Pool
) -> None:
    admin = make_person(db, Role.ADMIN, username="root").token
    dev = make_person(db, Role.DEVELOPER, username="dev").token
    _call(client, admin, "PUT", "/change-policies/*", {"text": POLICY})
    incidents = [make_incident(db, service="shop", title="PriceError on shop") for _ in range(3)]
    with TrackerServer() as tracker:
        body = {"name": "shop-gh", "kind": "github", "url": tracker.url}
        _call(client, admin, "POST", "/problem-trackers", body)
        problem = _call(
            client,
            dev,
            "POST",
            "/problems",
            {"title": "Checkout fails on null price", "incidents": [str(i) for i in incidents]},
        )
        pid, number = problem["id"], problem["number"]
        rca = {
            "version": 1,
            "five_whys": ["500 at checkout", "price is null", "importer writes null prices"],
            "root_cause": "the catalogue importer accepts empty prices",
            "category": "software",
        }
        version = _call(client, dev, "PUT", f"/problems/{pid}/rca", rca)["version"]
        _call(
            client,
            dev,
            "POST",
            f"/problems/{pid}/route",
            {"version": version, "tracker": "shop-gh"},
        )
        sent = _call(client, dev, "POST", "/problems/verify")
        assert sent["deliveries"]["delivered"] == 1
    issue = tracker.received[0]
    assert str(issue["title"]).startswith(f"[{number}]")
    assert "importer accepts empty prices" in str(issue["body"])

    change = _call(
        client,
        dev,
        "POST",
        "/changes",
        {
            "service": "shop",
            "title": "shop v2",
            "version": "v2",
            "external_id": "pipeline-run-77",
            "commits": [
                {"sha": "a1b2c3d4e5f6", "message": f"Reject empty prices\n\nFixes {number}"}
            ],
        },
    )
    assert change["state"] == "scheduled", change
    linked = _call(client, dev, "POST", "/problems/verify")
    assert linked["linked_changes"] == [f"{change['number']}→{number}"]
    assert linked["resolved"] == []
    assert (
        _call(client, dev, "GET", f"/problems/{pid}")["changes"][0]["found_in"] == "commit message"
    )

    run = _call(
        client,
        dev,
        "POST",
        "/deployments",
        {
            "pool": "shop-pool",
            "version": "v2",
            "environment": "production",
            "change_id": change["id"],
            "settings": FAST,
        },
    )
    done = _deployed(client, dev, run["id"])
    assert done["state"] == "succeeded", done["status_reason"]
    assert {shop.target.running_version(i) for i in shop.instances} == {"v2"}

    resolved = _call(client, dev, "POST", "/problems/verify")
    assert resolved["resolved"] == [number]
    shown = _call(client, dev, "GET", f"/problems/{pid}")
    assert shown["state"] == "resolved"
    assert shown["fixes"][0]["state"] == "done"
    assert shown["fixes"][0]["data"]["deployed_by"] == change["number"]
    assert shown["changes"][0]["state"] == "deployed"

    with db.session(write=True) as session:
        later = utcnow() + timedelta(days=15)
        closed = sweep(session, actor=system_actor(), now=later, quiet_period=timedelta(days=14))
        session.commit()
    assert closed["closed"] == [number]
    final = _call(client, dev, "GET", f"/problems/{pid}")
    assert final["state"] == "closed" and final["resolution"] == "fixed"
