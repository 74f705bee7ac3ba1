"""Problems through the API: create, link, lifecycle, RCA, routing, closing, measures."""

from __future__ import annotations

from datetime import date, timedelta

from flywheel.auth.actor import system_actor
from flywheel.db import utcnow
from flywheel.problem import service as problem_service
from flywheel.problem.verify_service import sweep
from tests.factories import make_incident
from tests.integration.problem.conftest import ProblemDesk


def _problem(desk: ProblemDesk, *incidents: int, title: str = "Disk fills up") -> dict:
    body = {"title": title, "incidents": [f"INC{i:07d}" for i in incidents]}
    return desk.ok("POST", "/problems", body)  # type: ignore[no-any-return]


def test_create_from_incidents_and_link_twice_is_409(desk: ProblemDesk) -> None:
    first, second, third = (make_incident(desk.db) for _ in range(3))
    made = _problem(desk, first, second)
    assert made["number"] == f"PRB{made['id']:07d}" and made["state"] == "new"
    assert made["service"] == "checkout" and made["signature"] == "alert:checkout:diskfull"
    again = desk.call("POST", f"/problems/{made['id']}/incidents", {"incidents": [str(first)]})
    assert again.status_code == 409 and f"INC{first:07d}" in again.json()["error"]["message"]
    other = desk.call("POST", "/problems", {"title": "x", "incidents": [str(second)]})
    assert other.status_code == 409
    twice = desk.call("POST", f"/problems/{made['id']}/incidents", {"incidents": ["3", "3"]})
    assert twice.status_code == 422 and "twice" in twice.json()["error"]["message"]
    missing = desk.call("POST", f"/problems/{made['id']}/incidents", {"incidents": ["999"]})
    assert missing.status_code == 422 and "INC0000999" in missing.json()["error"]["message"]
    bad = desk.call("POST", f"/problems/{made['id']}/incidents", {"incidents": ["CHG1"]})
    assert bad.status_code == 422
    desk.ok("POST", f"/problems/{made['id']}/incidents", {"incidents": [f"INC{third:07d}"]})
    shown = desk.problem(made["id"])
    assert [i["incident_id"] for i in shown["incidents"]] == [first, second, third]
    assert any(e["incident"] and e["kind"] == "problem.linked" for e in shown["timeline"])


def test_no_service_and_no_incident_is_422(desk: ProblemDesk) -> None:
    answer = desk.call("POST", "/problems", {"title": "vague"})
    assert answer.status_code == 422 and "service" in answer.json()["error"]["message"]
    assert desk.call("POST", "/problems", {"title": "", "service": "x"}).status_code == 422


def test_lifecycle_rca_and_stale_versions(desk: ProblemDesk) -> None:
    made = _problem(desk, make_incident(desk.db))
    pid = made["id"]
    skip = desk.call("POST", f"/problems/{pid}/state", {"version": 1, "state": "known_error"})
    assert skip.status_code == 409
    closed = desk.call("POST", f"/problems/{pid}/state", {"version": 1, "state": "closed"})
    assert closed.status_code == 422 and "close action" in closed.json()["error"]["message"]
    moved = desk.ok("POST", f"/problems/{pid}/state", {"version": 1, "state": "investigating"})
    stale = desk.call("POST", f"/problems/{pid}/state", {"version": 1, "state": "known_error"})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    rca = {
        "version": moved["version"],
        "five_whys": ["disk full", "logs not rotated", "logrotate config missing"],
        "contributing_factors": ["no disk alert"],
        "root_cause": "logrotate missing from the image",
        "category": "software",
    }
    done = desk.ok("PUT", f"/problems/{pid}/rca", rca)
    assert done["category"] == "software" and done["root_cause_at"] is not None
    assert desk.problem(pid)["time_to_root_cause_s"] >= 0
    wrong = desk.call("PUT", f"/problems/{pid}/rca", {"version": done["version"], "category": "x"})
    assert wrong.status_code == 422


def test_route_needs_a_category_and_a_tracker(desk: ProblemDesk) -> None:
    made = _problem(desk, make_incident(desk.db))
    pid = made["id"]
    moved = desk.ok("POST", f"/problems/{pid}/state", {"version": 1, "state": "investigating"})
    nocat = desk.call("POST", f"/problems/{pid}/route", {"version": moved["version"]})
    assert nocat.status_code == 422 and "category" in nocat.json()["error"]["message"]
    rca = desk.ok(
        "PUT", f"/problems/{pid}/rca", {"version": moved["version"], "category": "software"}
    )
    notracker = desk.call("POST", f"/problems/{pid}/route", {"version": rca["version"]})
    assert notracker.status_code == 422 and "tracker" in notracker.json()["error"]["message"]
    unknown = desk.call(
        "POST", f"/problems/{pid}/route", {"version": rca["version"], "tracker": "x"}
    )
    assert unknown.status_code == 422 and "unknown tracker" in unknown.json()["error"]["message"]
    assert desk.problem(pid)["fixes"] == []


def test_hardware_route_opens_a_change_and_an_open_fix_blocks_closing(desk: ProblemDesk) -> None:
    made = _problem(desk, make_incident(desk.db, ci_keys=["db1"]))
    pid = made["id"]
    v = desk.ok(
        "PUT",
        f"/problems/{pid}/rca",
        {"version": 1, "category": "hardware/infrastructure", "root_cause": "failing disk in db1"},
    )["version"]
    fix = desk.ok("POST", f"/problems/{pid}/route", {"version": v})
    assert fix["route"] == "change" and fix["change_number"].startswith("CHG")
    change = desk.ok("GET", f"/changes/{int(fix['change_number'][3:])}")
    assert change["service"] == "checkout" and f"PRB{pid:07d}" in change["description"]
    shown = desk.problem(pid)
    assert shown["state"] == "fix_in_progress"
    assert shown["changes"][0]["change_number"] == fix["change_number"]
    blocked = desk.call(
        "POST", f"/problems/{pid}/close", {"version": shown["version"], "resolution": "cancelled"}
    )
    assert blocked.status_code == 409 and "open fix" in blocked.json()["error"]["message"]
    by_hand = desk.call("POST", f"/problems/{pid}/fixes/{fix['id']}/finish", {})
    assert by_hand.status_code == 409 and "deployed" in by_hand.json()["error"]["message"]


def test_task_route_resolves_closes_after_quiet_period_and_recurrence_reopens(
    desk: ProblemDesk,
) -> None:
    made = _problem(desk, make_incident(desk.db))
    pid = made["id"]
    rca = {"version": 1, "category": "operational/procedural", "root_cause": "manual step skipped"}
    v = desk.ok("PUT", f"/problems/{pid}/rca", rca)["version"]
    past = desk.call(
        "POST", f"/problems/{pid}/route", {"version": v, "owner": "olga", "due_date": "2000-01-01"}
    )
    assert past.status_code == 422
    due = (date.today() + timedelta(days=7)).isoformat()
    fix = desk.ok(
        "POST",
        f"/problems/{pid}/route",
        {"version": v, "owner": "olga", "due_date": due, "task_kind": "training"},
    )
    assert fix["route"] == "task" and fix["data"]["kind"] == "training"
    assert desk.ok("POST", "/problems/verify")["resolved"] == []
    desk.ok("POST", f"/problems/{pid}/fixes/{fix['id']}/finish", {"note": "trained the team"})
    assert desk.ok("POST", "/problems/verify")["resolved"] == [f"PRB{pid:07d}"]
    assert desk.problem(pid)["state"] == "resolved"
    assert desk.ok("POST", "/problems/verify")["closed"] == []  # quiet period not over
    with desk.db.session(write=True) as session:
        done = sweep(session, actor=system_actor(), now=utcnow(), quiet_period=timedelta(0))
        session.commit()
    assert done["closed"] == [f"PRB{pid:07d}"]
    closed = desk.problem(pid)
    assert closed["state"] == "closed" and closed["resolution"] == "fixed"
    again = make_incident(desk.db)
    desk.ok("POST", f"/problems/{pid}/incidents", {"incidents": [str(again)]})
    reopened = desk.problem(pid)
    assert reopened["state"] == "investigating" and reopened["reopen_count"] == 1
    assert any("recurrence" in e["summary"] for e in reopened["timeline"])
    kinds = [e["kind"] for e in desk.ok("GET", f"/incidents/{again}")["timeline"]]
    assert "problem.recurrence" in kinds
    measures = desk.ok("GET", "/problems/measures")
    assert measures["overall"]["reopened"] == 1 and measures["overall"]["recurrence_rate"] == 1.0
    cat = {m["category"]: m for m in measures["by_category"]}["operational/procedural"]
    assert cat["mean_time_to_root_cause_s"] is not None


def test_close_as_duplicate_and_listing(desk: ProblemDesk) -> None:
    made = _problem(desk, make_incident(desk.db))
    fixed = desk.call(
        "POST", f"/problems/{made['id']}/close", {"version": 1, "resolution": "fixed"}
    )
    assert fixed.status_code == 422
    desk.ok("POST", f"/problems/{made['id']}/close", {"version": 1, "resolution": "duplicate"})
    assert desk.ok("GET", "/problems?state=open")["items"] == []
    assert len(desk.ok("GET", "/problems?state=closed")["items"]) == 1
    assert desk.call("GET", "/problems?state=bogus").status_code == 422
    assert desk.call("GET", "/problems/999").status_code == 404


def test_readers_cannot_write(desk: ProblemDesk) -> None:
    answer = desk.call("POST", "/problems", {"title": "t", "service": "checkout"}, who=desk.auditor)
    assert answer.status_code == 403
    assert desk.call("GET", "/problems", who=desk.auditor).status_code == 200


def test_service_reads_problem_history(desk: ProblemDesk) -> None:
    made = _problem(desk, make_incident(desk.db))
    with desk.db.session() as session:
        kinds = [e.kind for e in problem_service.events(session, problem_id=made["id"])]
    assert kinds == ["opened", "incident.linked"]


def test_changes_involved_come_from_the_incidents_suspects(desk: ProblemDesk) -> None:
    from tests.factories import record_change, record_deployment

    opened = utcnow() - timedelta(hours=2)
    with desk.db.session(write=True) as session:
        change = record_change(
            session, service="checkout", created_at=opened - timedelta(hours=3), commits=[]
        )
        record_deployment(
            session,
            service="checkout",
            started_at=opened - timedelta(minutes=30),
            finished_at=opened - timedelta(minutes=20),
            change_id=change.id,
        )
        session.commit()
        number = change.number
    made = _problem(desk, make_incident(desk.db, opened_at=opened))
    assert desk.problem(made["id"])["suspect_changes"] == [number]
    done = desk.ok("PUT", f"/problems/{made['id']}/rca", {"version": 1, "root_cause": "bad deploy"})
    assert done["changes_involved"] == [number]
    kept = desk.ok(
        "PUT", f"/problems/{made['id']}/rca", {"version": done["version"], "changes_involved": []}
    )
    assert kept["changes_involved"] == []


def test_hardware_fix_is_verified_when_its_change_is_implemented(desk: ProblemDesk) -> None:
    policy = "rules: [{name: flow, when: {type: normal}, then: auto_approve}]"
    desk.ok("PUT", "/change-policies/*", {"text": policy}, who=desk.admin)
    made = _problem(desk, make_incident(desk.db, ci_keys=["db1"]))
    pid = made["id"]
    rca = {"version": 1, "category": "hardware/infrastructure", "root_cause": "disk wearing out"}
    v = desk.ok("PUT", f"/problems/{pid}/rca", rca)["version"]
    fix = desk.ok("POST", f"/problems/{pid}/route", {"version": v})
    change_id = int(fix["change_number"][3:])
    assert desk.ok("GET", f"/changes/{change_id}")["state"] == "scheduled"
    assert desk.ok("POST", "/problems/verify")["resolved"] == []
    desk.ok("POST", f"/changes/{change_id}/start")
    complete = {"close_code": "failed", "notes": "new disk not recognised"}
    desk.ok("POST", f"/changes/{change_id}/complete", complete)
    assert desk.ok("POST", "/problems/verify")["resolved"] == []
    shown = desk.problem(pid)
    assert shown["state"] == "fix_in_progress" and shown["changes"][0]["state"] == "failed"
    assert shown["fixes"][0]["state"] == "open"
    cancelled = desk.ok(
        "POST", f"/problems/{pid}/fixes/{fix['id']}/finish?outcome=cancelled", {"note": "retry"}
    )
    assert cancelled["state"] == "cancelled"
    again = desk.ok("POST", f"/problems/{pid}/route", {"version": desk.problem(pid)["version"]})
    second = int(again["change_number"][3:])
    assert second != change_id
    desk.ok("POST", f"/changes/{second}/start")
    desk.ok("POST", f"/changes/{second}/complete", {"close_code": "successful"})
    assert desk.ok("POST", "/problems/verify")["resolved"] == [made["number"]]
    assert desk.problem(pid)["fixes"][1]["data"]["deployed_by"] == again["change_number"]
