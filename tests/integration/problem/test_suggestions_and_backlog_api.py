"""Suggestions, backlog webhooks (delivered, failing and retried) and the CSV export."""

from __future__ import annotations

from datetime import timedelta

from flywheel.db import utcnow
from tests.factories import TrackerServer, free_port_url, make_incident
from tests.integration.problem.conftest import ProblemDesk


def test_recurring_incidents_are_suggested_accepted_and_dismissed(desk: ProblemDesk) -> None:
    now = utcnow()
    same = [make_incident(desk.db, opened_at=now - timedelta(days=d)) for d in (1, 2, 3)]
    far = make_incident(desk.db, opened_at=now - timedelta(days=60))
    other = [
        make_incident(desk.db, service="search", title=f"Slow on s{x}", opened_at=now) for x in "ab"
    ]
    made = desk.ok("POST", "/problems/suggestions", {"period_days": 7, "min_incidents": 3})
    assert [sorted(s["incident_ids"]) for s in made] == [sorted(same)]
    assert far not in made[0]["incident_ids"] and not set(other) & set(made[0]["incident_ids"])
    assert "3 incidents with the same signature" in made[0]["evidence"]["why"]
    assert desk.ok("POST", "/problems/suggestions", {"period_days": 7}) == []
    naive = desk.call("POST", "/problems/suggestions", {"since": "2030-01-01T00:00:00"})
    assert naive.status_code == 422 and "timezone" in naive.text
    problem = desk.ok("POST", f"/problems/suggestions/{made[0]['id']}/accept", {})
    assert sorted(i["incident_id"] for i in desk.problem(problem["id"])["incidents"]) == sorted(
        same
    )
    again = desk.call("POST", f"/problems/suggestions/{made[0]['id']}/accept", {})
    assert again.status_code == 409
    pair = desk.ok("POST", "/problems/suggestions", {"min_incidents": 2})
    assert [sorted(s["incident_ids"]) for s in pair] == [sorted(other)]
    dismissed = desk.ok(
        "POST", f"/problems/suggestions/{pair[0]['id']}/dismiss", {"reason": "noise"}
    )
    assert dismissed["state"] == "dismissed"
    assert desk.ok("POST", "/problems/suggestions", {"min_incidents": 2}) == []
    assert desk.ok("GET", "/problems/suggestions") == []
    assert len(desk.ok("GET", "/problems/suggestions?state=dismissed")) == 1
    assert desk.call("POST", "/problems/suggestions", {"min_incidents": 1}).status_code == 422
    assert desk.call("POST", "/problems/suggestions/999/dismiss", {}).status_code == 404


def _software_problem(desk: ProblemDesk, tracker: str) -> tuple[int, dict]:
    incident = make_incident(desk.db)
    problem = desk.ok("POST", "/problems", {"title": "Checkout 500s", "incidents": [str(incident)]})
    rca = {"version": 1, "category": "software", "root_cause": "null price", "five_whys": ["a"]}
    v = desk.ok("PUT", f"/problems/{problem['id']}/rca", rca)["version"]
    fix = desk.ok("POST", f"/problems/{problem['id']}/route", {"version": v, "tracker": tracker})
    return problem["id"], fix


def test_backlog_item_is_sent_in_the_tracker_shape(desk: ProblemDesk) -> None:
    with TrackerServer() as server:
        tracker = {"name": "shop-jira", "kind": "jira", "url": server.url, "project": "SHOP"}
        desk.ok("POST", "/problem-trackers", tracker, who=desk.admin)
        dup = desk.call("POST", "/problem-trackers", tracker, who=desk.admin)
        assert dup.status_code == 409
        pid, fix = _software_problem(desk, "shop-jira")
        assert fix["route"] == "backlog" and fix["tracker"] == "shop-jira"
        sent = desk.ok("POST", "/problems/verify")
        assert sent["deliveries"]["delivered"] == 1
    issue = server.received[0]["fields"]
    assert issue["project"] == {"key": "SHOP"} and f"PRB{pid:07d}" in issue["summary"]  # type: ignore[index]
    shown = desk.ok("GET", f"/problems/{pid}/deliveries")
    assert shown[0]["state"] == "delivered" and shown[0]["attempts"] == 1
    csv = desk.call("GET", "/problems/backlog.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert f"PRB{pid:07d},Fix PRB{pid:07d}: Checkout 500s,checkout,software" in csv.text


def test_a_failing_tracker_is_retried_with_backoff_and_shown(desk: ProblemDesk) -> None:
    with TrackerServer(status=503) as server:
        desk.ok(
            "POST",
            "/problem-trackers",
            {"name": "gh", "kind": "github", "url": server.url},
            who=desk.admin,
        )
        pid, _ = _software_problem(desk, "gh")
        assert desk.ok("POST", "/problems/verify")["deliveries"]["retrying"] == 1
        shown = desk.ok("GET", f"/problems/{pid}/deliveries")[0]
        assert shown["state"] == "pending" and shown["last_status"] == 503
        assert shown["last_error"] == "HTTP 503" and shown["attempts"] == 1
        assert desk.ok("POST", "/problems/verify")["deliveries"]["retrying"] == 0  # backoff
        server.status = 201
        desk.ok("POST", f"/problem-deliveries/{shown['id']}/retry")
        assert desk.ok("POST", "/problems/verify")["deliveries"]["delivered"] == 1
    assert server.received[-1]["title"].startswith(f"[PRB{pid:07d}]")  # type: ignore[union-attr]
    done = desk.call("POST", f"/problem-deliveries/{shown['id']}/retry")
    assert done.status_code == 409


def test_an_unreachable_tracker_records_the_error(desk: ProblemDesk) -> None:
    tracker = {"name": "gone", "kind": "github", "url": free_port_url()}
    desk.ok("POST", "/problem-trackers", tracker, who=desk.admin)
    pid, _ = _software_problem(desk, "gone")
    desk.ok("POST", "/problems/verify")
    shown = desk.ok("GET", f"/problems/{pid}/deliveries")[0]
    assert shown["state"] == "pending" and "ConnectError" in shown["last_error"]
    bad = desk.call(
        "POST",
        "/problem-trackers",
        {"name": "x", "kind": "svn", "url": "http://a/"},
        who=desk.admin,
    )
    assert bad.status_code == 422


def test_the_worker_thread_sends_backlog_items_by_itself(desk: ProblemDesk) -> None:
    from flywheel.problem.verify_service import Worker
    from tests.deploy_support import wait_until

    with TrackerServer() as server:
        desk.ok(
            "POST",
            "/problem-trackers",
            {"name": "gh", "kind": "github", "url": server.url},
            who=desk.admin,
        )
        pid, _ = _software_problem(desk, "gh")
        worker = Worker(desk.db, interval_s=0.2, quiet_period=timedelta(days=14))
        worker.start()
        try:
            wait_until(lambda: bool(server.received), timeout_s=20, what="backlog item sent")
        finally:
            worker.stop()
    assert desk.ok("GET", f"/problems/{pid}/deliveries")[0]["state"] == "delivered"
