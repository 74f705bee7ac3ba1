"""Policies as code, blackout windows with break-glass, conflicts through the CMDB, the calendar."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from flywheel.change.models import ChangeRequest
from flywheel.db import Database, utcnow
from tests.integration.change.conftest import Crew, open_change

STRICT = """
mode: first_match
rules:
  - name: no-blog-friday
    when: {services: [blog], risk_score: {gte: 0.0}}
    then: {reject: "blog is frozen by policy"}
"""


def test_policies_are_versioned_and_decide(client: TestClient, crew: Crew) -> None:
    builtin = client.get("/api/v1/change-policies/blog", headers=crew.dev.headers).json()
    assert builtin["version"] == 0 and "low-risk-small-blast" in builtin["text"]
    denied = client.put(
        "/api/v1/change-policies/blog", json={"text": STRICT}, headers=crew.dev.headers
    )
    assert denied.status_code == 403
    applied = client.put(
        "/api/v1/change-policies/blog", json={"text": STRICT}, headers=crew.cm1.headers
    )
    assert applied.status_code == 200 and applied.json()["version"] == 1
    change = open_change(client, crew.pipeline)
    assert change["state"] == "rejected"
    decision = change["decision"]
    assert isinstance(decision, dict)
    assert decision["decided_by"] == "no-blog-friday"
    assert decision["policy"] == {"scope": "blog", "version": 1}
    bad = client.put(
        "/api/v1/change-policies/blog",
        json={"text": "rules: [{name: x, when: {colour: red}, then: cab}]"},
        headers=crew.cm1.headers,
    )
    assert bad.status_code == 422 and "colour" in bad.json()["error"]["message"]
    unknown = client.put(
        "/api/v1/change-policies/nowhere", json={"text": STRICT}, headers=crew.cm1.headers
    )
    assert unknown.status_code == 422


def freeze(client: TestClient, crew: Crew, **body: object) -> dict[str, object]:
    now = utcnow()
    window = {
        "name": "black friday",
        "kind": "blackout",
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(days=2)).isoformat(),
        "override_roles": ["admin"],
        **body,
    }
    made = client.post("/api/v1/change-windows", json=window, headers=crew.cm1.headers)
    assert made.status_code == 201, made.text
    data: dict[str, object] = made.json()
    return data


def test_a_blackout_holds_changes_until_someone_breaks_glass(
    client: TestClient, crew: Crew
) -> None:
    freeze(client, crew, scope="service:blog")
    change = open_change(client, crew.pipeline)
    assert change["state"] == "authorize"
    decision = change["decision"]
    assert isinstance(decision, dict)
    assert decision["blockers"][0]["window"] == "black friday"
    url = f"/api/v1/changes/{change['id']}"
    refused = client.post(
        f"{url}/break-glass", json={"reason": "hotfix for a checkout bug"}, headers=crew.dev.headers
    )
    assert refused.status_code == 403
    broken = client.post(
        f"{url}/break-glass",
        json={"reason": "hotfix for a checkout bug"},
        headers=crew.admin.headers,
    )
    assert broken.status_code == 200, broken.text
    assert broken.json()["state"] == "scheduled"
    assert client.post(f"{url}/start", headers=crew.pipeline.headers).status_code == 200
    audit = client.get("/api/v1/audit?action=change.break_glass", headers=crew.admin.headers)
    assert audit.json()["items"][0]["reason"] == "hotfix for a checkout bug"


def test_a_freeze_on_a_database_reaches_what_depends_on_it(client: TestClient, crew: Crew) -> None:
    freeze(client, crew, scope="ci:db1", include_dependents=True)
    on_checkout = open_change(client, crew.pipeline, service="checkout")
    decision = on_checkout["decision"]
    assert isinstance(decision, dict) and decision["blockers"]
    elsewhere = open_change(client, crew.pipeline)
    assert elsewhere["state"] == "scheduled"


def test_bad_windows_are_refused(client: TestClient, crew: Crew) -> None:
    now = utcnow()
    cases = [
        {"name": "w", "kind": "blackout", "start": now.isoformat(), "end": now.isoformat()},
        {"name": "w", "kind": "blackout", "rrule": "FREQ=SOMETIMES", "start": now.isoformat(),
         "duration_minutes": 60},
        {"name": "w", "kind": "holiday", "start": now.isoformat()},
        {"name": "w", "kind": "blackout", "scope": "ci:ghost", "start": now.isoformat(),
         "end": (now + timedelta(hours=1)).isoformat()},
        {"name": "w", "kind": "blackout", "timezone": "Mars/Olympus", "rrule": "FREQ=DAILY",
         "start": now.isoformat(), "duration_minutes": 30},
    ]  # fmt: skip
    for body in cases:
        response = client.post("/api/v1/change-windows", json=body, headers=crew.cm1.headers)
        assert response.status_code == 422, (body, response.text)
    assert client.get("/api/v1/change-windows", headers=crew.dev.headers).json() == []


def test_conflicting_changes_are_reported(client: TestClient, crew: Crew) -> None:
    start = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    window = {
        "planned_start": start.isoformat(),
        "planned_end": (start + timedelta(hours=2)).isoformat(),
    }
    first = open_change(client, crew.pipeline, service="checkout", cis=["db1"], **window)
    second = open_change(client, crew.pipeline, service="search", cis=["db1"], **window)
    decision = second["decision"]
    assert isinstance(decision, dict)
    conflicts = decision["conflicts"]
    assert conflicts and conflicts[0]["change"] == first["number"]
    assert any(c["kind"] == "same_ci" and c["ci"] == "db1" for c in conflicts)


def test_calendar_shows_changes_and_window_occurrences(client: TestClient, crew: Crew) -> None:
    now = utcnow().replace(microsecond=0)
    weekly = {
        "name": "sunday maintenance",
        "kind": "maintenance",
        "rrule": "FREQ=WEEKLY;BYDAY=SU",
        "start": now.isoformat(),
        "duration_minutes": 120,
    }
    assert client.post("/api/v1/change-windows", json=weekly, headers=crew.cm1.headers).is_success
    open_change(
        client,
        crew.pipeline,
        planned_start=(now + timedelta(days=1)).isoformat(),
        planned_end=(now + timedelta(days=1, hours=1)).isoformat(),
    )
    entries = client.get(
        "/api/v1/changes/calendar",
        params={"from": now.isoformat(), "to": (now + timedelta(days=21)).isoformat()},
        headers=crew.dev.headers,
    ).json()
    kinds = [e["kind"] for e in entries]
    assert kinds.count("window:maintenance") == 3
    assert kinds.count("change") == 1
    assert entries == sorted(entries, key=lambda e: e["start"])
    backwards = client.get(
        "/api/v1/changes/calendar",
        params={"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()},
        headers=crew.dev.headers,
    )
    assert backwards.status_code == 422


def test_a_service_that_requires_maintenance_windows(client: TestClient, crew: Crew) -> None:
    blog = client.get("/api/v1/cis/blog", headers=crew.admin.headers).json()
    client.patch(
        "/api/v1/cis/blog",
        json={"version": blog["version"], "attributes": {"requires_maintenance_window": True}},
        headers=crew.admin.headers,
    )
    monday = (utcnow() + timedelta(days=7)).replace(hour=2, minute=0, second=0, microsecond=0)
    monday -= timedelta(days=monday.weekday())
    window = {
        "name": "monday night",
        "kind": "maintenance",
        "scope": "service:blog",
        "rrule": "FREQ=WEEKLY;BYDAY=MO",
        "start": monday.isoformat(),
        "duration_minutes": 180,
    }
    assert client.post("/api/v1/change-windows", json=window, headers=crew.cm1.headers).is_success
    outside = open_change(
        client,
        crew.pipeline,
        planned_start=(monday + timedelta(hours=10)).isoformat(),
        planned_end=(monday + timedelta(hours=11)).isoformat(),
    )
    assert outside["state"] == "authorize"
    decision = outside["decision"]
    assert isinstance(decision, dict)
    (blocker,) = decision["blockers"]
    assert blocker["kind"] == "maintenance"
    assert blocker["next_slot"] == (monday + timedelta(days=7)).isoformat()
    inside = open_change(
        client,
        crew.pipeline,
        planned_start=(monday + timedelta(minutes=30)).isoformat(),
        planned_end=(monday + timedelta(hours=1)).isoformat(),
    )
    assert inside["state"] == "scheduled"


BUDGET = """
rules:
  - name: riskiest-tenth
    when: {risk_top_percent: {lte: 10}}
    then: cab
  - name: the-rest
    then: auto_approve
"""


def test_gating_by_budget_sends_the_riskiest_tenth_to_review(
    client: TestClient, crew: Crew, db: Database
) -> None:
    with db.session(write=True) as session:
        for i in range(50):
            session.add(
                ChangeRequest(
                    type="normal",
                    state="closed",
                    service="blog",
                    title=f"past {i}",
                    requested_by="history",
                    risk_score=0.05 + i * 0.01,
                    risk_model_version="rules-1",
                )
            )
        session.commit()
    client.put("/api/v1/change-policies/blog", json={"text": BUDGET}, headers=crew.cm1.headers)
    small = open_change(client, crew.pipeline, code_metrics={"la": 5, "nf": 1})
    big = open_change(client, crew.pipeline, code_metrics={"la": 90000, "ld": 9000, "nf": 400})
    assert small["state"] == "scheduled"
    assert big["state"] == "authorize"
    decision = big["decision"]
    assert isinstance(decision, dict) and decision["decided_by"] == "riskiest-tenth"
