"""Change requests decided in batches: each request gets what it would have got alone."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flywheel.audit import service as audit_service
from flywheel.audit.models import AuditEvent
from flywheel.auth import service as auth_service
from flywheel.auth.roles import Role
from flywheel.change import decisions, service
from flywheel.change.decisions import Answer, Submitted, decide, decide_batch
from flywheel.change.models import ChangeRequest, ChangeTransition
from flywheel.change.schemas import ChangeCreate, ChangeOut
from flywheel.context import current_request_id
from flywheel.db import Database
from flywheel.errors import InvalidInput, PermissionDenied, Unauthenticated
from tests.factories import make_person
from tests.integration.change.conftest import Crew

METRICS = {"la": 12, "ld": 3, "nf": 2}  # small: the built-in policy approves at once


def submitted(secret: str, **body: Any) -> Submitted:
    data = ChangeCreate.model_validate(
        {"service": "blog", "title": "Deploy", "code_metrics": METRICS, **body}
    )
    return Submitted(secret, data, {}, request_id=f"req-{body.get('title', 'x')}")


def decoded(answer: Answer) -> dict[str, Any]:
    assert answer.error is None, answer.error
    body: dict[str, Any] = json.loads(answer.body)
    return body


def count(db: Database, model: Any) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_each_request_of_a_batch_gets_its_own_answer(db: Database, crew: Crew) -> None:
    auditor = make_person(db, Role.AUDITOR)
    items = [
        submitted(crew.pipeline.token, title="first", external_id="run-1"),
        submitted(crew.pipeline.token, title="second", external_id="run-2"),
        submitted(crew.pipeline.token, title="nowhere", service="no-such-service"),
        submitted("fw_not-a-token", title="stranger"),
        submitted(auditor.token, title="auditor"),
        submitted(crew.dev.token, title="retried", external_id="run-1"),
    ]
    first, second, nowhere, stranger, watcher, retried = decide_batch(db, items)
    one, two = decoded(first), decoded(second)
    assert (first.status, second.status) == (201, 201)
    assert one["state"] == two["state"] == "scheduled"
    assert two["id"] > one["id"]
    # The second saw the first, written in the same transaction, as a conflict.
    assert [c["change"] for c in two["decision"]["conflicts"]] == [one["number"]]
    assert one["decision"]["conflicts"] == []
    assert isinstance(nowhere.error, InvalidInput) and "no-such-service" in str(nowhere.error)
    assert isinstance(stranger.error, Unauthenticated)
    assert isinstance(watcher.error, PermissionDenied)
    assert retried.status == 200 and decoded(retried)["id"] == one["id"]
    assert count(db, ChangeRequest) == 2
    assert count(db, ChangeTransition) == 8  # new, assess, authorize, scheduled for each
    with db.session() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        mine = [e for e in events if e.object_type == "change"]
        assert [e.action for e in mine] == [
            *("change.create", "change.assess", "change.authorize", "change.scheduled"),
            *("change.create", "change.assess", "change.authorize", "change.scheduled"),
        ]
        assert {e.request_id for e in mine} == {"req-first", "req-second"}
        assert audit_service.verify_chain(session).intact


def test_a_batch_decides_as_the_same_requests_one_by_one(db: Database, crew: Crew) -> None:
    bodies = [{"title": f"t{i}", "cis": ["blog-app"]} for i in range(4)]
    batched = [
        decoded(a) for a in decide_batch(db, [submitted(crew.pipeline.token, **b) for b in bodies])
    ]
    alone = []
    with db.session(write=True) as session:  # the path every other caller takes
        actor = auth_service.authenticate_token(session, secret=crew.pipeline.token)
        for body in bodies:
            again = submitted(crew.pipeline.token, **body, external_id=f"alone-{body['title']}")
            change, _ = service.open_change(session, actor=actor, data=again.data)
            session.flush()
            alone.append(ChangeOut.model_validate(change).model_dump(mode="json"))
        session.commit()
    for mine, theirs in zip(batched, alone, strict=True):
        assert (mine["state"], mine["risk_level"]) == (theirs["state"], theirs["risk_level"])
        assert mine["risk_score"] == theirs["risk_score"]
        assert mine["decision"]["outcome"] == theirs["decision"]["outcome"]
    # What was stored reads back as what was answered.
    with db.session() as session:
        for answered in batched:
            stored = service.get_change(session, change_id=answered["id"])
            assert ChangeOut.model_validate(stored).model_dump(mode="json") == answered
    # Each change conflicts with those opened before it (on blog and on blog-app), in the
    # batch or not.
    assert [len(c["decision"]["conflicts"]) for c in batched] == [0, 2, 4, 6]
    assert [len(c["decision"]["conflicts"]) for c in alone] == [8, 10, 12, 14]
    assert batched[1]["decision"]["conflicts"][0]["change"] == batched[0]["number"]


def test_a_fault_in_one_request_fails_only_that_request(
    db: Database, crew: Crew, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = decisions.service.write_change

    def faulty(session: Any, **kwargs: Any) -> Any:
        if kwargs["data"].title == "broken":
            raise RuntimeError("disk on fire")
        return real(session, **kwargs)

    monkeypatch.setattr(decisions.service, "write_change", faulty)
    titles = ["fine", "broken", "also fine"]
    answers = decide(db, [submitted(crew.pipeline.token, title=t) for t in titles])
    assert [a.status for a in answers] == [201, 0, 201]
    assert isinstance(answers[1].error, RuntimeError)
    with db.session() as session:
        stored = session.scalars(select(ChangeRequest.title).order_by(ChangeRequest.id)).all()
    assert stored == ["fine", "also fine"]


async def _post_all(app: Any, requests: list[tuple[dict[str, Any], dict[str, str]]]) -> list[Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://flywheel") as client:
        sent = [client.post("/api/v1/changes", json=body, headers=h) for body, h in requests]
        return list(await asyncio.gather(*sent))


def test_concurrent_requests_share_batches_and_all_get_answers(
    client: TestClient, db: Database, crew: Crew, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real = decisions.decide

    def counted(database: Database, items: list[Submitted]) -> list[Answer]:
        sizes.append(len(items))
        return real(database, items)

    monkeypatch.setattr(decisions, "decide", counted)
    requests = [
        ({"service": "blog", "title": f"run {i}", "code_metrics": METRICS}, crew.pipeline.headers)
        for i in range(30)
    ]
    answers = asyncio.run(_post_all(client.app, requests))
    assert [a.status_code for a in answers] == [201] * 30
    ids = [a.json()["id"] for a in answers]
    assert len(set(ids)) == 30
    assert count(db, ChangeRequest) == 30
    # They waited together (SQLite's write gate lets them through) and were decided together.
    assert sum(sizes) == 30 and max(sizes) > 1
    with db.session() as session:
        assert audit_service.verify_chain(session).intact


def test_a_key_repeated_in_one_batch_is_answered_once_and_replayed(
    client: TestClient, db: Database, crew: Crew
) -> None:
    body = {"service": "blog", "title": "one run", "code_metrics": METRICS}
    keyed = {**crew.pipeline.headers, "Idempotency-Key": "pipeline-run-7"}
    answers = asyncio.run(_post_all(client.app, [(body, keyed)] * 3))
    assert [a.status_code for a in answers] == [201] * 3
    assert len({a.json()["id"] for a in answers}) == 1
    assert [a.headers.get("idempotent-replayed") for a in answers].count("true") == 2
    assert count(db, ChangeRequest) == 1


def test_a_refused_request_gives_its_key_back(client: TestClient, db: Database, crew: Crew) -> None:
    keyed = {**crew.pipeline.headers, "Idempotency-Key": "fix-and-retry"}
    wrong = {"service": "no-such-service", "title": "typo", "code_metrics": METRICS}
    right = {**wrong, "service": "blog"}
    refused = client.post("/api/v1/changes", json=wrong, headers=keyed)
    assert refused.status_code == 422 and "no-such-service" in refused.text
    fixed = client.post("/api/v1/changes", json=right, headers=keyed)
    assert fixed.status_code == 201
    again = client.post("/api/v1/changes", json=right, headers=keyed)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == fixed.json()["id"]
    assert count(db, ChangeRequest) == 1


def test_each_service_in_a_batch_is_decided_by_its_own_policy(
    client: TestClient, db: Database, crew: Crew
) -> None:
    strict = (
        "mode: first_match\nrules:\n  - name: nothing-goes\n"
        "    when: {risk_score: {gte: 0.0}}\n    then: {reject: frozen for the test}\n"
    )
    applied = client.put(
        "/api/v1/change-policies/checkout", json={"text": strict}, headers=crew.admin.headers
    )
    assert applied.status_code in (200, 201), applied.text
    items = [
        submitted(crew.pipeline.token, title="blog change"),
        submitted(crew.pipeline.token, title="checkout change", service="checkout"),
    ]
    blog, checkout = (decoded(a) for a in decide_batch(db, items))
    assert blog["state"] == "scheduled"
    assert checkout["state"] == "rejected"
    assert checkout["decision"]["policy"]["scope"] == "checkout"
    assert blog["decision"]["policy"]["scope"] != "checkout"


def test_work_on_each_request_is_logged_under_its_request_id(
    db: Database, crew: Crew, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str | None]] = []
    for name in ("check_change", "write_change"):
        real = getattr(decisions.service, name)

        def watched(session: Any, *, _name: str = name, _real: Any = real, **kw: Any) -> Any:
            seen.append((_name, current_request_id()))
            return _real(session, **kw)

        monkeypatch.setattr(decisions.service, name, watched)
    titles = ["one", "two", "three"]
    answers = decide_batch(db, [submitted(crew.pipeline.token, title=t) for t in titles])
    assert [a.status for a in answers] == [201, 201, 201]
    ids = [f"req-{t}" for t in titles]
    assert seen == [("check_change", i) for i in ids] + [("write_change", i) for i in ids]
    assert current_request_id() is None  # the batch leaves no request's id behind


def _conflicts(answer: dict[str, Any], numbers: dict[str, str]) -> list[tuple[str, ...]]:
    """The change's conflicts, with changes of its own batch named by their place in it."""
    return sorted(
        (numbers.get(c["change"], c["change"]), c["kind"], c["ci"], c["other_ci"])
        for c in answer["decision"]["conflicts"]
    )


def test_conflicts_read_for_the_whole_batch_match_those_read_alone(
    db: Database, crew: Crew
) -> None:
    """The batch reads stored candidates for all its groups in one statement."""
    tomorrow = "2030-01-02T10:00:00+00:00"
    stored = [
        {"title": "s-blog"},
        {"title": "s-search", "service": "search", "cis": ["db1"]},
        {
            "title": "s-planned",
            "cis": ["blog-app"],
            "planned_start": tomorrow,
            "planned_end": "2030-01-02T11:00:00+00:00",
        },
    ]
    first = decide_batch(db, [submitted(crew.pipeline.token, **b) for b in stored])
    assert all(a.status == 201 for a in first), first
    bodies = [
        {"title": "b-blog"},
        {
            "title": "b-planned",
            "cis": ["blog-app"],
            "planned_start": "2030-01-02T10:30:00+00:00",
            "planned_end": "2030-01-02T11:30:00+00:00",
        },
        {"title": "b-checkout", "service": "checkout"},
        {"title": "b-search", "service": "search"},
        {"title": "b-nowhere", "service": "no-such-service"},
        {"title": "b-blog-again", "cis": ["blog-app"]},
    ]
    alone: list[dict[str, Any]] = []
    with db.session(write=True) as session:  # the one-by-one path, rolled back
        actor = auth_service.authenticate_token(session, secret=crew.pipeline.token)
        for body in bodies:
            if body.get("service") == "no-such-service":
                continue
            change, _ = service.open_change(
                session, actor=actor, data=submitted(crew.pipeline.token, **body).data
            )
            session.flush()
            alone.append(ChangeOut.model_validate(change).model_dump(mode="json"))
        session.rollback()
    answers = decide_batch(db, [submitted(crew.pipeline.token, **b) for b in bodies])
    assert isinstance(answers[4].error, InvalidInput)
    batched = [decoded(a) for i, a in enumerate(answers) if i != 4]
    in_batch = {c["number"]: f"#{i}" for i, c in enumerate(batched)}
    one_by_one = {c["number"]: f"#{i}" for i, c in enumerate(alone)}
    expected = [_conflicts(c, one_by_one) for c in alone]
    assert [_conflicts(c, in_batch) for c in batched] == expected
    stored_numbers = {decoded(a)["number"] for a in first}
    seen = {c[0] for found in expected for c in found}
    assert stored_numbers <= seen, "every stored change is some new change's conflict"
    assert any(c[1] == "dependency" for found in expected for c in found)
