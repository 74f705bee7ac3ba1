"""Known errors through the API and alert intake: matching, workaround, replacement circles."""

from __future__ import annotations

from tests.factories import make_incident
from tests.integration.problem.conftest import ProblemDesk


def _alert(desk: ProblemDesk, name: str, service: str = "checkout") -> int:
    body = [{"source": "mon", "labels": {"alertname": name, "service": service}}]
    desk.ok("POST", "/alerts", body, who=desk.admin)
    listed = desk.ok("GET", f"/incidents?service={service}")["items"]
    return int(listed[0]["id"])


def test_a_new_matching_incident_gets_the_workaround_and_joins_the_problem(
    desk: ProblemDesk,
) -> None:
    first = make_incident(desk.db, title="DiskFull on checkout")
    problem = desk.ok("POST", "/problems", {"title": "disk", "incidents": [str(first)]})
    v = desk.ok(
        "POST", f"/problems/{problem['id']}/state", {"version": 1, "state": "investigating"}
    )
    known = desk.ok(
        "POST",
        "/known-errors",
        {
            "problem": problem["number"],
            "title": "Disk fills with logs",
            "workaround": "run logrotate -f",
            "text": "DiskFull",
        },
    )
    assert known["service"] == "checkout" and known["number"].startswith("KE")
    assert desk.problem(problem["id"])["state"] == "known_error"
    assert v["version"] >= 1
    incident = _alert(desk, "DiskFull")
    timeline = desk.ok("GET", f"/incidents/{incident}")["timeline"]
    told = [e for e in timeline if e["kind"] == "known_error"]
    assert len(told) == 1 and "run logrotate -f" in told[0]["summary"]
    shown = desk.problem(problem["id"])
    assert incident in [i["incident_id"] for i in shown["incidents"]]
    assert {i["reason"] for i in shown["incidents"]} == {"manual", "known_error"}
    assert shown["known_errors"][0]["matched_count"] == 1
    unrelated = _alert(desk, "HighLatency", service="search")
    kinds = [e["kind"] for e in desk.ok("GET", f"/incidents/{unrelated}")["timeline"]]
    assert "known_error" not in kinds
    matched = desk.ok("GET", f"/known-errors/match?incident=INC{incident:07d}")
    assert matched["known_error"]["id"] == known["id"]
    none = desk.ok("GET", f"/known-errors/match?incident={unrelated}")
    assert none["known_error"] is None and none["followed"] == []
    measures = desk.ok("GET", "/problems/measures")
    assert measures["open_known_errors_by_service"] == {"checkout": 1}


def test_replacements_are_followed_and_circles_refused(desk: ProblemDesk) -> None:
    def make(text: str) -> dict:
        body = {"title": text, "workaround": f"do {text}", "text": "timeout"}
        return desk.ok("POST", "/known-errors", body)  # type: ignore[no-any-return]

    a, b, c = make("a"), make("b"), make("c")
    desk.ok("POST", f"/known-errors/{a['id']}/supersede", {"version": 1, "by": b["number"]})
    desk.ok("POST", f"/known-errors/{b['id']}/supersede", {"version": 1, "by": str(c["id"])})
    circle = desk.call(
        "POST", f"/known-errors/{c['id']}/supersede", {"version": 1, "by": a["number"]}
    )
    assert circle.status_code == 409 and "circle" in circle.json()["error"]["message"]
    itself = desk.call(
        "POST", f"/known-errors/{c['id']}/supersede", {"version": 1, "by": str(c["id"])}
    )
    assert itself.status_code == 409
    incident = make_incident(desk.db, title="timeout calling payments")
    matched = desk.ok("GET", f"/known-errors/match?incident={incident}")
    assert matched["known_error"]["id"] == c["id"]
    assert matched["followed"] == [a["number"], b["number"], c["number"]]
    active = [k["id"] for k in desk.ok("GET", "/known-errors")]
    assert active == [c["id"]]
    assert len(desk.ok("GET", "/known-errors?include_inactive=true")) == 3


def test_bad_known_errors_are_refused(desk: ProblemDesk) -> None:
    vague = desk.call("POST", "/known-errors", {"title": "t", "workaround": "w", "service": "x"})
    assert vague.status_code == 422 and "recognise" in vague.json()["error"]["message"]
    body = {"title": "t", "workaround": "w", "text": "x", "problem": "PRB0000999"}
    assert desk.call("POST", "/known-errors", body).status_code == 404
    no_workaround = desk.call("POST", "/known-errors", {"title": "t", "text": "x"})
    assert no_workaround.status_code == 422
    assert desk.call("GET", "/known-errors/match?incident=nope").status_code == 422
    stale = desk.ok("POST", "/known-errors", {"title": "t", "workaround": "w", "text": "x"})
    other = desk.ok("POST", "/known-errors", {"title": "u", "workaround": "w", "text": "y"})
    old = desk.call(
        "POST", f"/known-errors/{stale['id']}/supersede", {"version": 7, "by": str(other["id"])}
    )
    assert old.status_code == 409


def test_a_new_incident_like_a_fixed_problem_reopens_it_and_says_so(desk: ProblemDesk) -> None:
    first = make_incident(desk.db, title="DiskFull on db1")
    problem = desk.ok("POST", "/problems", {"title": "disk", "incidents": [str(first)]})
    pid = problem["id"]
    rca = {"version": 1, "category": "operational/procedural", "root_cause": "no cleanup job"}
    v = desk.ok("PUT", f"/problems/{pid}/rca", rca)["version"]
    fix = desk.ok(
        "POST", f"/problems/{pid}/route", {"version": v, "owner": "olga", "due_date": "2999-01-01"}
    )
    desk.ok("POST", f"/problems/{pid}/fixes/{fix['id']}/finish", {"note": "cron added"})
    assert desk.ok("POST", "/problems/verify")["resolved"] == [problem["number"]]
    other = _alert(desk, "DiskFull", service="search")  # same alert on another service: no
    assert desk.problem(pid)["state"] == "resolved"
    assert other not in [i["incident_id"] for i in desk.problem(pid)["incidents"]]
    same = _alert(desk, "DiskFull")
    shown = desk.problem(pid)
    assert shown["state"] == "investigating" and shown["reopen_count"] == 1
    assert {i["incident_id"]: i["reason"] for i in shown["incidents"]}[same] == "recurrence"
    kinds = [e["kind"] for e in desk.ok("GET", f"/incidents/{same}")["timeline"]]
    assert "problem.recurrence" in kinds
