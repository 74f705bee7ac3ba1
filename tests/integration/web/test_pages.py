"""Console pages: what each role sees and may do, forms with and without CSRF, errors as pages."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path

import pytest

from flywheel.auth import service as auth_service
from flywheel.change import service as change_service
from flywheel.change.schemas import ChangeCreate
from flywheel.db import Database
from flywheel.release import service as release_service
from flywheel.release.schemas import EnvironmentIn
from tests.factories import SYSTEM, make_ci, make_estate, make_held_deployment, relate
from tests.integration.web.conftest import Console, csrf_of

BIG = {"la": 12000, "ld": 3000, "nf": 140}


def open_change(db: Database, by: str, **fields: object) -> int:
    """A change opened by a user (through the change service, as the API does)."""
    with db.session(write=True) as session:
        actor = auth_service.actor_for(auth_service.get_user(session, username=by))
        data = ChangeCreate.model_validate({"service": "checkout", "title": "Ship it", **fields})
        change, _ = change_service.open_change(session, actor=actor, data=data)
        session.commit()
        return change.id


@pytest.fixture
def held(db: Database, people: dict[str, str]) -> int:
    """A risky change waiting for the CAB (two change managers), opened by dana."""
    with db.session(write=True) as session:
        make_estate(session)
        session.commit()
    return open_change(db, "dana", code_metrics=BIG, title="Risky checkout release")


def test_a_change_manager_sees_and_uses_the_approve_button(console: Console, held: int) -> None:
    console.sign_in("carl")
    overview = console.get("/")
    assert "Risky checkout release" in overview.text  # awaiting my decision
    page = console.get(f"/changes/{held}")
    assert page.status_code == 200
    assert ">Approve</button>" in page.text and ">Reject</button>" in page.text
    assert "Held for the change advisory board (CAB)" in page.text
    assert "Risk " in page.text and "raises the risk" in page.text
    answer = console.post(f"/changes/{held}/approve", {"comment": "fine"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/changes/{held}?notice=approved"
    after = console.get(answer.headers["location"])
    assert "Your approval is recorded." in after.text
    assert ">Approve</button>" not in after.text  # already gave a verdict
    assert "carl" in after.text and "“fine”" in after.text


def test_the_requester_and_an_auditor_see_no_buttons(console: Console, held: int) -> None:
    for name in ("dana", "audrey"):
        console.sign_in(name)
        page = console.get(f"/changes/{held}")
        assert page.status_code == 200, name
        assert "Your decision" not in page.text and ">Approve</button>" not in page.text


def test_the_post_is_refused_where_the_button_is_hidden(
    console: Console, held: int, db: Database
) -> None:
    console.sign_in("audrey")
    token = csrf_of(console.get("/").text)
    refused = console.client.post(
        f"/changes/{held}/approve", data={"csrf_token": token}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert "may not see or do this" in refused.text
    console.sign_in("dana")
    own = console.post(f"/changes/{held}/approve", {})
    assert own.status_code == 403
    assert "separation of duties" in own.text
    with db.session() as session:
        assert change_service.get_change(session, change_id=held).approvals == []


def test_forms_without_the_sessions_csrf_token_are_refused(
    console: Console, held: int, db: Database
) -> None:
    console.sign_in("carl")
    url = f"/changes/{held}/approve"
    missing = console.client.post(url, data={}, follow_redirects=False)
    forged = console.client.post(url, data={"csrf_token": "0" * 64}, follow_redirects=False)
    token = csrf_of(console.get("/").text)
    elsewhere = console.client.post(
        url,
        data={"csrf_token": token},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    for answer in (missing, forged, elsewhere):
        assert answer.status_code == 403
        assert "Could not do that" in answer.text or "Not allowed" in answer.text
    with db.session() as session:
        assert change_service.get_change(session, change_id=held).approvals == []


def test_bad_form_input_is_named_on_the_page(console: Console, held: int) -> None:
    console.sign_in("carl")
    empty = console.post(f"/changes/{held}/reject", {"reason": "  "})
    assert empty.status_code == 422
    assert "reason: must not be empty" in empty.text
    long = console.post(f"/changes/{held}/approve", {"comment": "x" * 6000})
    assert long.status_code == 422 and "comment:" in long.text
    cases = {
        "/changes?state=bogus": "unknown state 'bogus'",
        "/changes/calendar?month=2026-13": "month must look like 2026-03",
        "/deployments?state=bogus": "unknown state 'bogus'",
        "/cmdb?type=bogus": "unknown CI type 'bogus'",
        "/cmdb/what-if?keys=ghost": "no configuration item 'ghost'",
        "/cmdb/what-if?keys=bad%2Fkey": "not a CI key",
        "/changes?before=abc": "invalid input",
    }
    for url, words in cases.items():
        answer = console.get(url)
        assert answer.status_code == 422, url
        assert words in unescape(answer.text), (url, answer.text[-800:])
    console.sign_in("root")
    audit = console.get("/audit?since=yesterday")
    assert audit.status_code == 422 and "from must be a date" in audit.text


def test_missing_things_are_404_pages(console: Console, held: int) -> None:
    console.sign_in("root")
    missing = ("/changes/999999", "/deployments/999999", "/deployments/999999/live")
    for url in (*missing, "/cmdb/ci/nope", "/no/such/page"):
        answer = console.get(url)
        assert answer.status_code == 404, url
        assert answer.headers["content-type"].startswith("text/html"), url
        assert "Not found" in answer.text
    assert console.client.get("/api/v1/changes/1").headers["content-type"] == "application/json"


def test_navigation_follows_the_role(console: Console, people: dict[str, str]) -> None:
    console.sign_in("dana")
    page = console.get("/")
    assert 'href="/changes"' in page.text and 'href="/audit"' not in page.text
    assert console.get("/audit").status_code == 403
    console.sign_in("audrey")
    page = console.get("/")
    assert 'href="/audit"' in page.text
    assert "Changes awaiting my decision" not in page.text  # an auditor decides nothing


def test_pages_show_the_domains_data(console: Console, held: int) -> None:
    console.sign_in("root")
    changes = console.get("/changes?state=authorize")
    assert f"CHG{held:07d}" in changes.text
    calendar = console.get("/changes/calendar")
    assert calendar.status_code == 200 and "Mon" in calendar.text
    ci = console.get("/cmdb/ci/checkout-app")
    assert '<svg class="graph"' in ci.text and "checkout-app" in ci.text
    assert 'href="/cmdb/ci/pool"' in ci.text  # a neighbour is a link
    assert "checkout down" in ci.text  # what its failure would do
    found = console.get("/cmdb?q=web")
    assert found.status_code == 200 and "web5" in found.text
    jump = console.get("/cmdb?q=db1")
    assert jump.status_code == 303 and jump.headers["location"] == "/cmdb/ci/db1"
    what_if = console.get("/cmdb/what-if?keys=web0,web1,web2")
    assert "checkout down" in what_if.text  # 3 of 6 left, the pool needs 4
    audit = console.get(f"/audit?object_type=change&object_id=CHG{held:07d}")
    assert "change.create" in audit.text
    chain = console.get("/audit/verify?fragment=1")
    assert "Chain intact" in chain.text
    oldest = console.get("/audit?before=3")
    assert '<th scope="row">2</th>' in oldest.text and '<th scope="row">1</th>' in oldest.text
    assert '<th scope="row">3</th>' not in oldest.text


def test_audit_export(console: Console, held: int) -> None:
    console.sign_in("audrey")
    jsonl = console.get("/audit/export?format=jsonl&object_type=change")
    assert jsonl.status_code == 200
    assert "attachment" in jsonl.headers["content-disposition"]
    rows = [json.loads(line) for line in jsonl.text.splitlines()]
    assert rows and all(r["object_type"] == "change" for r in rows) and rows[0]["hash"]
    csv = console.get("/audit/export?format=csv")
    assert csv.text.splitlines()[0].startswith("seq,")
    assert console.get("/audit/export?format=xml").status_code == 422


def test_deployment_controls_follow_the_role(
    console: Console, db: Database, people: dict[str, str], tmp_path: Path
) -> None:
    with db.session(write=True) as session:
        make_estate(session)
        session.commit()
    pool = _deployable_pool(db, str(tmp_path))
    run = make_held_deployment(db, pool=pool)
    console.sign_in("audrey")
    page = console.get(f"/deployments/{run}")
    assert page.status_code == 200 and "Batch 1" in page.text
    assert ">Pause</button>" not in page.text
    token = csrf_of(console.get("/").text)
    refused = console.client.post(f"/deployments/{run}/pause", data={"csrf_token": token})
    assert refused.status_code == 403
    console.sign_in("otto")
    page = console.get(f"/deployments/{run}")
    assert ">Pause</button>" in page.text and ">Abort</button>" in page.text
    paused = console.post(f"/deployments/{run}/pause", {"reason": "hold on"})
    assert paused.status_code == 303
    again = console.get(paused.headers["location"])
    assert "Pause requested" in again.text and ">Resume</button>" in again.text
    wrong = console.post(f"/deployments/{run}/resume", {"reason": "x" * 3000})
    assert wrong.status_code == 422 and "reason:" in wrong.text


def test_a_finished_run_streams_its_state_and_ends(
    console: Console, db: Database, people: dict[str, str], tmp_path: Path
) -> None:
    pool = _deployable_pool(db, str(tmp_path))
    run = make_held_deployment(db, pool=pool, finished=True)
    console.sign_in("dana")
    with console.client.stream("GET", f"/deployments/{run}/live") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = "".join(stream.iter_text())
    assert "event: summary" in body and "event: batches" in body and "event: chart" in body
    assert body.rstrip().endswith("event: done\ndata: aborted")
    assert "aborted" in console.get("/deployments?state=aborted").text
    overview = console.get("/").text
    assert '>1</span><span class="label">Rolled back or failed (7 d)' in overview


def _deployable_pool(db: Database, state_dir: str) -> str:
    with db.session(write=True) as session:
        deploy = {"target": {"driver": "local", "state_dir": state_dir, "command": "true"}}
        make_ci(session, "web-pool", "service_pool", min_up="0", attributes={"deploy": deploy})
        make_ci(session, "web-pool-1", "instance", attributes={"port": 1})
        relate(session, "web-pool-1", "member_of", "web-pool")
        staging = EnvironmentIn(rank=1)
        release_service.put_environment(session, actor=SYSTEM, name="staging", data=staging)
        session.commit()
    return "web-pool"
