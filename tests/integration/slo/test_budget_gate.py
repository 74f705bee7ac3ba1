"""The error-budget policy as a deployment gate: spent budget blocks all but exempt changes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.change.models import ChangeRequest
from flywheel.db import Database, utcnow
from tests.factories import Bake, Person, make_ci, make_person, record_deployment, relate
from tests.support import free_port

POLICY = "rules: [{name: flow, when: {type: normal}, then: auto_approve}, " + (
    '{name: urgent, when: {type: emergency}, then: {approve: {by: ["role:operator"]}}}]'
)
SLO = {"service": "store", "name": "availability", "objective": 99.9, "source": "deployments"}


@pytest.fixture
def admin(client: TestClient, db: Database, tmp_path: Path) -> Person:
    """An admin, the service 'store' with a deployable pool, and a policy that approves."""
    with db.session(write=True) as session:
        make_ci(session, "store", "business_service", criticality=1)
        target = {"driver": "local", "state_dir": str(tmp_path / "state"), "command": "true"}
        make_ci(
            session,
            "store-pool",
            "service_pool",
            min_up="0",
            attributes={"deploy": {"target": target}},
        )
        make_ci(session, "store-1", "instance", attributes={"port": free_port()})
        relate(session, "store", "depends_on", "store-pool")
        relate(session, "store-1", "member_of", "store-pool")
        session.commit()
    person = make_person(db, Role.ADMIN, username="root")
    answer = client.put("/api/v1/change-policies/*", json={"text": POLICY}, headers=person.headers)
    assert answer.status_code == 200, answer.text
    return person


def _spend_budget(db: Database) -> None:
    now = utcnow()
    with db.session(write=True) as session:
        record_deployment(
            session,
            service="store",
            state="rolled_back",
            started_at=now - timedelta(hours=2),
            finished_at=now - timedelta(hours=1),
            bakes=[Bake(now - timedelta(hours=1, minutes=30), 1_000, 200, state="failed")],
        )
        session.commit()


def _change(client: TestClient, who: Person, **body: Any) -> int:
    payload = {"service": "store", "title": f"store {body}", **body}
    answer = client.post("/api/v1/changes", json=payload, headers=who.headers)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _release(client: TestClient, who: Person) -> int:
    answer = client.post(
        "/api/v1/releases", json={"service": "store", "version": "v2"}, headers=who.headers
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _budget_gate(client: TestClient, who: Person, release: int, change: int | None) -> Any:
    query = f"?change_id={change}" if change else ""
    answer = client.get(f"/api/v1/releases/{release}/gates{query}", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return next(g for g in answer.json() if g["gate"] == "error_budget")


def test_spent_budget_blocks_a_normal_deployment_with_409_naming_the_gate(
    client: TestClient, db: Database, admin: Person
) -> None:
    client.post("/api/v1/slos", json=SLO, headers=admin.headers)
    _spend_budget(db)
    change = _change(client, admin)
    answer = client.post(
        "/api/v1/deployments",
        json={"service": "store", "version": "v2", "change_id": change},
        headers=admin.headers,
    )
    assert answer.status_code == 409, answer.text
    message = answer.json()["error"]["message"]
    assert "error_budget: error budget of store spent ('availability' 20000% used)" in message
    assert "only emergency changes and fixes linked to a problem" in message
    assert "change:" not in message  # the approved change itself passes
    listed = client.get("/api/v1/deployments?service=store", headers=admin.headers).json()
    assert [d["state"] for d in listed["items"]] == ["rolled_back"]  # nothing new recorded


def test_emergency_changes_and_problem_fixes_are_exempt(
    client: TestClient, db: Database, admin: Person
) -> None:
    client.post("/api/v1/slos", json=SLO, headers=admin.headers)
    _spend_budget(db)
    release = _release(client, admin)
    normal = _change(client, admin)
    emergency = _change(client, admin, type="emergency")
    fix = _change(client, admin)
    with db.session(write=True) as session:
        found = session.get(ChangeRequest, fix)
        assert found is not None
        found.links = {"problems": ["PRB0000007"]}
        session.commit()
    assert _budget_gate(client, admin, release, normal)["status"] == "fail"
    assert _budget_gate(client, admin, release, None)["status"] == "fail"
    urgent = _budget_gate(client, admin, release, emergency)
    assert urgent["status"] == "pass"
    assert f"CHG{emergency:07d} is an emergency change" in urgent["reason"]
    fixing = _budget_gate(client, admin, release, fix)
    assert fixing["status"] == "pass"
    assert "fixes problem PRB0000007" in fixing["reason"]


def test_a_pipeline_change_naming_a_problem_in_a_commit_is_a_fix(
    client: TestClient, db: Database, admin: Person
) -> None:
    client.post("/api/v1/slos", json=SLO, headers=admin.headers)
    _spend_budget(db)
    release = _release(client, admin)
    made = client.post(
        "/api/v1/problems", json={"title": "cart 500s", "service": "store"}, headers=admin.headers
    )
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    commit = {"sha": "a" * 40, "message": f"Retry the cart lock\n\nFixes {number}"}
    fix = _change(client, admin, commits=[commit])
    unrelated = _change(client, admin, commits=[{"sha": "b" * 40, "message": "Fixes PRB9999999"}])
    fixing = _budget_gate(client, admin, release, fix)
    assert fixing["status"] == "pass" and f"fixes problem {number}" in fixing["reason"]
    assert _budget_gate(client, admin, release, unrelated)["status"] == "fail"


def test_an_approved_emergency_change_deploys_while_the_budget_is_spent(
    client: TestClient, db: Database, admin: Person
) -> None:
    client.post("/api/v1/slos", json=SLO, headers=admin.headers)
    _spend_budget(db)
    emergency = _change(client, admin, type="emergency")
    approver = make_person(db, Role.OPERATOR)
    approved = client.post(
        f"/api/v1/changes/{emergency}/approve", json={}, headers=approver.headers
    )
    assert approved.json()["state"] == "scheduled", approved.text
    answer = client.post(
        "/api/v1/deployments",
        json={
            "service": "store",
            "version": "v2",
            "change_id": emergency,
            "settings": {"bake_s": 0, "health_timeout_s": 0.2},
        },
        headers=admin.headers,
    )
    assert answer.status_code == 201, answer.text
    gate = next(g for g in answer.json()["gates"] if g["gate"] == "error_budget")
    assert gate["status"] == "pass"


def test_the_gate_passes_with_budget_left_and_skips_without_slo(
    client: TestClient, db: Database, admin: Person
) -> None:
    release = _release(client, admin)
    change = _change(client, admin)
    skipped = _budget_gate(client, admin, release, change)
    assert (skipped["status"], skipped["reason"]) == ("skip", "store has no SLO")
    client.post("/api/v1/slos", json=SLO, headers=admin.headers)
    no_data = _budget_gate(client, admin, release, change)
    assert (no_data["status"], no_data["reason"]) == ("pass", "no SLI data yet for store's SLO(s)")
    now = utcnow()
    with db.session(write=True) as session:
        record_deployment(
            session,
            service="store",
            started_at=now - timedelta(days=1),
            finished_at=now - timedelta(days=1),
            bakes=[Bake(now - timedelta(days=1), 10_000, 4)],
        )
        session.commit()
    left = _budget_gate(client, admin, release, change)
    assert (left["status"], left["reason"]) == ("pass", "store has 60% of its error budget left")
