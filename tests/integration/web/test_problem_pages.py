"""Problem pages: the board, suggestions, a problem's record and its forms, by role."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest

from flywheel.db import Database, utcnow
from flywheel.problem import fix_service, suggestion_service
from flywheel.problem import service as problem_service
from flywheel.problem.schemas import ProblemCreate, TrackerIn
from tests.factories import SYSTEM, make_estate, make_problem_board
from tests.integration.web.conftest import Console, csrf_of


@pytest.fixture
def board(db: Database, people: dict[str, str]) -> dict[str, int]:
    return make_problem_board(db)


def test_the_board_shows_problems_by_state_and_category(
    console: Console, board: dict[str, int]
) -> None:
    console.sign_in("audrey")
    page = console.get("/problems")
    assert page.status_code == 200
    text = unescape(page.text)
    for column in ("new", "investigating", "known error", "fix in progress", "resolved"):
        assert f'id="col-{column.replace(" ", "_")}"' in page.text, column
    assert f"PRB{board['problem']:07d}" in text and "db1 disk fills up" in text
    assert "operational/procedural" in text  # counted by root-cause category
    assert "slowquery" in text  # the suggestion still waiting
    assert ">Accept</button>" not in page.text  # an auditor decides nothing
    filtered = console.get("/problems?category=software")
    assert f"PRB{board['problem']:07d}" not in filtered.text
    bad = console.get("/problems?category=bogus")
    assert bad.status_code == 422 and "unknown category 'bogus'" in unescape(bad.text)
    overview = console.get("/")
    assert "Open problems" in overview.text and "Known errors" in overview.text


def test_the_problem_page_shows_the_record(console: Console, board: dict[str, int]) -> None:
    console.sign_in("audrey")
    page = console.get(f"/problems/{board['problem']}")
    assert page.status_code == 200
    text = unescape(page.text)
    assert "log rotation was switched off" in text and "logs were not rotated" in text
    assert "no disk alert below 90%" in text and "Time to root cause" in text
    assert "delete rotated logs in /var/log/app" in text  # the known error's workaround
    assert "Linked incidents (3)" in text and "DiskFull on db1" in text
    assert "investigating" in text and "root-cause analysis updated" in text  # timeline
    assert "What you can do" not in text and "Record RCA" not in text
    known = console.get("/problems/known-errors?service=checkout")
    assert f"KE{board['known_error']:07d}" in known.text
    assert console.get("/problems/999999").status_code == 404


def test_a_developer_routes_the_fix_and_closes(
    console: Console, board: dict[str, int], db: Database
) -> None:
    console.sign_in("dana")
    problem_id = board["problem"]
    page = console.get(f"/problems/{problem_id}")
    assert ">Route the fix</button>" in page.text and ">Record RCA</button>" in page.text
    with db.session() as session:
        version = problem_service.get_problem(session, problem_id=problem_id).version
    due = (utcnow() + timedelta(days=7)).date().isoformat()
    form = {"version": str(version), "owner": "otto", "due_date": due}
    routed = console.post(f"/problems/{problem_id}/route", form, page=f"/problems/{problem_id}")
    assert routed.status_code == 303, routed.text[-600:]
    after = unescape(console.get(routed.headers["location"]).text)
    assert "The fix is routed." in after and f"task for otto, due {due}" in after
    stale = console.post(
        f"/problems/{problem_id}/close",
        {"version": str(version), "resolution": "cancelled"},
        page=f"/problems/{problem_id}",
    )
    assert stale.status_code == 409 and "reload and retry" in unescape(stale.text)
    with db.session() as session:
        problem = problem_service.get_problem(session, problem_id=problem_id)
        assert problem.state == "fix_in_progress"
        assert len(fix_service.fixes(session, problem_id=problem_id)) == 1
    bad = console.post(
        f"/problems/{problem_id}/rca",
        {"version": str(problem.version), "category": "bogus"},
        page=f"/problems/{problem_id}",
    )
    assert bad.status_code == 422 and "category" in unescape(bad.text)


def test_suggestions_are_accepted_or_dismissed_by_those_allowed(
    console: Console, board: dict[str, int], db: Database
) -> None:
    suggestion = board["open_suggestion"]
    console.sign_in("audrey")
    token = csrf_of(console.get("/").text)
    refused = console.client.post(
        f"/problems/suggestions/{suggestion}/accept",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    console.sign_in("otto")
    board_page = console.get("/problems")
    assert ">Accept</button>" in board_page.text and ">Dismiss</button>" in board_page.text
    forged = console.client.post(
        f"/problems/suggestions/{suggestion}/accept",
        data={"csrf_token": "0" * 64},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    accepted = console.post(
        f"/problems/suggestions/{suggestion}/accept", {"title": "search is slow"}, page="/problems"
    )
    assert accepted.status_code == 303
    problem_page = console.get(accepted.headers["location"])
    assert (
        "search is slow" in problem_page.text
        and ">Start investigation</button>" in problem_page.text
    )
    again = console.post(f"/problems/suggestions/{suggestion}/dismiss", {}, page="/problems")
    assert again.status_code == 409 and "already accepted" in unescape(again.text)
    with db.session() as session:
        assert suggestion_service.list_suggestions(session, state="open") == []
    missing = console.post("/problems/suggestions/999999/dismiss", {}, page="/problems")
    assert missing.status_code == 404


def test_starting_an_investigation(console: Console, board: dict[str, int], db: Database) -> None:
    with db.session(write=True) as session:
        made = suggestion_service.accept(
            session,
            actor=SYSTEM,
            suggestion_id=board["open_suggestion"],
        )
        session.commit()
        problem_id, version = made.id, made.version
    console.sign_in("otto")
    url = f"/problems/{problem_id}"
    started = console.post(f"{url}/investigate", {"version": str(version)}, page=url)
    assert started.status_code == 303
    assert "Investigation started." in console.get(started.headers["location"]).text
    unknown = console.post(f"{url}/explode", {"version": "1"}, page=url)
    assert unknown.status_code == 422 and "unknown action" in unescape(unknown.text)
    with db.session() as session:
        assert problem_service.get_problem(session, problem_id=problem_id).state == "investigating"


def test_a_dismissal_keeps_its_reason_and_readers_cannot_act(
    console: Console, board: dict[str, int], db: Database
) -> None:
    with db.session() as session:
        before = problem_service.get_problem(session, problem_id=board["problem"]).version
    console.sign_in("audrey")
    url = f"/problems/{board['problem']}"
    token = csrf_of(console.get("/").text)
    for action in ("rca", "route", "close", "investigate"):
        refused = console.client.post(
            f"{url}/{action}", data={"csrf_token": token, "version": "1"}, follow_redirects=False
        )
        assert refused.status_code == 403, action
    console.sign_in("carl")
    suggestion = board["open_suggestion"]
    dismissed = console.post(
        f"/problems/suggestions/{suggestion}/dismiss",
        {"reason": "batch job noise"},
        page="/problems",
    )
    assert dismissed.status_code == 303
    assert "is dismissed" in console.get(dismissed.headers["location"]).text
    with db.session() as session:
        (row,) = suggestion_service.list_suggestions(session, state="dismissed")
        assert row.id == suggestion and row.evidence["dismissed_because"] == "batch job noise"
        assert problem_service.get_problem(session, problem_id=board["problem"]).version == before


def _current_version(db: Database, problem_id: int) -> str:
    with db.session() as session:
        return str(problem_service.get_problem(session, problem_id=problem_id).version)


def test_routed_fixes_show_their_progress(
    console: Console, board: dict[str, int], db: Database
) -> None:
    with db.session(write=True) as session:
        make_estate(session)
        tracker = TrackerIn.model_validate(
            {"name": "shop-team", "kind": "github", "url": "http://127.0.0.1:9/issues"}
        )
        fix_service.create_tracker(session, actor=SYSTEM, data=tracker)
        made = problem_service.create_problem(
            session,
            actor=SYSTEM,
            data=ProblemCreate(title="Checkout rounding bug", service="checkout"),
            incident_ids=[],
        )
        session.commit()
        software = made.id
    console.sign_in("otto")
    hardware = board["problem"]
    for problem_id, category in ((hardware, "hardware/infrastructure"), (software, "software")):
        url = f"/problems/{problem_id}"
        form = {"version": _current_version(db, problem_id), "category": category}
        recorded = console.post(f"{url}/rca", {**form, "root_cause": "found it"}, page=url)
        assert recorded.status_code == 303, unescape(recorded.text)[-500:]
    url = f"/problems/{hardware}"
    routed = console.post(f"{url}/route", {"version": _current_version(db, hardware)}, page=url)
    assert routed.status_code == 303, unescape(routed.text)[-500:]
    page = unescape(console.get(url).text)
    assert "change request CHG" in page and " is " in page
    url = f"/problems/{software}"
    assert 'value="shop-team"' in console.get(url).text  # the tracker to choose
    form = {"version": _current_version(db, software), "tracker": "shop-team"}
    routed = console.post(f"{url}/route", form, page=url)
    assert routed.status_code == 303, unescape(routed.text)[-500:]
    page = unescape(console.get(url).text)
    assert "backlog item pending to shop-team (not sent yet)" in page
