"""Pipelines open changes: safe ones flow, risky ones wait for people, bad ones are refused."""

from __future__ import annotations

from fastapi.testclient import TestClient

from flywheel.db import Database
from tests.integration.change.conftest import Crew, open_change

BIG = {"la": 12000, "ld": 3000, "nf": 140}


def test_a_low_risk_change_is_approved_at_once(client: TestClient, crew: Crew) -> None:
    change = open_change(client, crew.pipeline, code_metrics={"la": 12, "ld": 3, "nf": 2})
    assert change["state"] == "scheduled"
    assert change["risk_level"] == "low"
    decision = change["decision"]
    assert isinstance(decision, dict)
    assert decision["outcome"] == "auto_approve"
    assert decision["decided_by"] == "low-risk-small-blast"
    steps = client.get(f"/api/v1/changes/{change['id']}/timeline", headers=crew.dev.headers).json()
    assert [s["to_state"] for s in steps] == ["new", "assess", "authorize", "scheduled"]
    events = client.get(
        f"/api/v1/audit?object_type=change&object_id={change['number']}", headers=crew.admin.headers
    ).json()["items"]
    assert [e["action"] for e in events] == [
        "change.create",
        "change.assess",
        "change.authorize",
        "change.scheduled",
    ]
    assert "low-risk-small-blast" in (events[-1]["reason"] or "")


def test_a_risky_change_waits_for_the_cab(client: TestClient, crew: Crew) -> None:
    change = open_change(
        client,
        crew.pipeline,
        service="checkout",
        code_metrics=BIG,
        commits=[{"sha": "abc1234", "author": "dana"}],
    )
    assert change["state"] == "authorize"
    decision = change["decision"]
    assert isinstance(decision, dict) and decision["outcome"] == "cab"
    url = f"/api/v1/changes/{change['id']}"
    own = client.post(f"{url}/approve", json={}, headers=crew.pipeline.headers)
    assert own.status_code == 403 and own.json()["error"]["code"] == "separation_of_duties"
    author = client.post(f"{url}/approve", json={}, headers=crew.dev.headers)
    assert author.status_code == 403
    assert "commit they authored" in author.json()["error"]["message"]
    first = client.post(f"{url}/approve", json={"comment": "ok"}, headers=crew.cm1.headers)
    assert first.status_code == 200 and first.json()["state"] == "authorize"
    twice = client.post(f"{url}/approve", json={}, headers=crew.cm1.headers)
    assert twice.status_code == 409
    second = client.post(f"{url}/approve", json={}, headers=crew.cm2.headers)
    assert second.json()["state"] == "scheduled"
    assert [a["username"] for a in second.json()["approvals"]] == ["carl", "cleo"]


def test_approving_after_a_rejection_is_a_conflict(client: TestClient, crew: Crew) -> None:
    change = open_change(client, crew.pipeline, service="checkout", code_metrics=BIG)
    url = f"/api/v1/changes/{change['id']}"
    rejected = client.post(f"{url}/reject", json={"reason": "not now"}, headers=crew.cm1.headers)
    assert rejected.json()["state"] == "rejected"
    late = client.post(f"{url}/approve", json={}, headers=crew.cm2.headers)
    assert late.status_code == 409
    assert "not awaiting approval" in late.json()["error"]["message"]


def test_a_retried_pipeline_run_gets_the_same_change(client: TestClient, crew: Crew) -> None:
    first = client.post(
        "/api/v1/changes",
        json={"service": "blog", "title": "Deploy", "external_id": "run-77"},
        headers=crew.pipeline.headers,
    )
    again = client.post(
        "/api/v1/changes",
        json={"service": "blog", "title": "Deploy", "external_id": "run-77"},
        headers=crew.pipeline.headers,
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    listed = client.get("/api/v1/changes?service=blog", headers=crew.dev.headers).json()["items"]
    assert len(listed) == 1


def test_bad_changes_are_refused_and_nothing_is_stored(
    client: TestClient, crew: Crew, db: Database
) -> None:
    cases = [
        ({"service": "nowhere", "title": "x"}, "unknown service"),
        ({"service": "blog", "title": "x", "cis": ["ghost"]}, "ghost"),
        ({"service": "db1", "title": "x"}, "not a service"),
        (
            {
                "service": "blog",
                "title": "x",
                "planned_start": "2030-01-02T10:00:00Z",
                "planned_end": "2030-01-02T09:00:00Z",
            },
            "planned_end",
        ),
        (
            {"service": "blog", "title": "x", "planned_end": "2020-01-01T00:00:00Z"},
            "planned_end is in the past",
        ),
        (
            {
                "service": "blog",
                "title": "x",
                "planned_start": "2030-01-02T10:00:00",
                "planned_end": "2030-01-02T11:00:00Z",
            },
            "planned_start: Input should have timezone info",
        ),
        ({"service": "blog", "title": "x", "planned_end": "2030-01-02T11:00:00"}, "timezone"),
        (
            {
                "service": "blog",
                "title": "x",
                "commits": [{"sha": "ab12", "authored_at": "2030-01-02"}],
            },
            "timezone",
        ),
        ({"service": "blog", "title": "x", "type": "urgent"}, "type"),
        ({"service": "blog", "title": "x", "commits": [{"sha": "not-hex"}]}, "sha"),
        ({"service": "blog"}, "title"),
    ]
    for body, words in cases:
        response = client.post("/api/v1/changes", json=body, headers=crew.pipeline.headers)
        assert response.status_code == 422, (body, response.text)
        assert words in response.json()["error"]["message"], response.text
    assert client.get("/api/v1/changes", headers=crew.dev.headers).json()["items"] == []


def test_implementation_and_review(client: TestClient, crew: Crew) -> None:
    change = open_change(client, crew.pipeline)
    url = f"/api/v1/changes/{change['id']}"
    early = client.post(f"{url}/close", json={}, headers=crew.cm1.headers)
    assert early.status_code == 409
    assert "allowed: cancelled, implement" in early.json()["error"]["message"]
    assert client.post(f"{url}/start", headers=crew.pipeline.headers).json()["state"] == "implement"
    done = client.post(
        f"{url}/complete", json={"close_code": "successful"}, headers=crew.pipeline.headers
    )
    assert done.json()["state"] == "review"
    closed = client.post(f"{url}/close", json={"comment": "fine"}, headers=crew.cm1.headers)
    assert closed.json()["state"] == "closed"
    assert closed.json()["close_code"] == "successful"
    assert closed.json()["actual_start"] is not None


def test_a_change_receipt_is_recorded_closed(client: TestClient, crew: Crew) -> None:
    change = open_change(client, crew.pipeline, receipt=True, implemented_at="2026-11-20T10:00:00Z")
    assert change["state"] == "closed"
    assert change["actual_start"] == "2026-11-20T10:00:00Z"


def test_emergency_changes_need_an_emergency_approver(client: TestClient, crew: Crew) -> None:
    change = open_change(client, crew.pipeline, type="emergency", service="checkout")
    assert change["state"] == "authorize"
    url = f"/api/v1/changes/{change['id']}"
    not_cm = client.post(f"{url}/approve", json={}, headers=crew.dev.headers)
    assert not_cm.status_code == 403
    approved = client.post(f"{url}/approve", json={}, headers=crew.cm1.headers)
    assert approved.json()["state"] == "scheduled"
    client.post(f"{url}/start", headers=crew.pipeline.headers)
    done = client.post(
        f"{url}/complete", json={"close_code": "rolled_back"}, headers=crew.pipeline.headers
    )
    assert done.json()["state"] == "review", "an emergency change is always reviewed"
