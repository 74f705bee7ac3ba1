"""Opening a change with an Idempotency-Key: the claim and the answer share its commit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flywheel.app import create_app
from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.http.models import IdempotencyKey
from tests.factories import make_person
from tests.integration.change.conftest import Crew

BODY = {"service": "blog", "title": "Deploy blog 7", "code_metrics": {"la": 5, "ld": 1, "nf": 1}}


def changes_titled(client: TestClient, crew: Crew, title: str) -> list[dict[str, object]]:
    items = client.get("/api/v1/changes?service=blog", headers=crew.dev.headers).json()["items"]
    return [c for c in items if c["title"] == title]


def test_a_retry_gets_the_stored_decision(client: TestClient, crew: Crew, db: Database) -> None:
    headers = {**crew.pipeline.headers, "Idempotency-Key": "run-1"}
    first = client.post("/api/v1/changes", json=BODY, headers=headers)
    retry = client.post("/api/v1/changes", json=BODY, headers=headers)
    assert first.status_code == retry.status_code == 201, first.text
    assert retry.json() == first.json()
    assert first.json()["state"] == "scheduled"
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["content-type"] == "application/json"
    assert len(changes_titled(client, crew, "Deploy blog 7")) == 1
    with db.session() as session:  # settled in the change's own commit
        row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "run-1"))
        assert row is not None and row.response_status == 201
    other = client.post("/api/v1/changes", json={**BODY, "title": "Other"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_a_refused_change_leaves_no_claim(client: TestClient, crew: Crew, db: Database) -> None:
    headers = {**crew.pipeline.headers, "Idempotency-Key": "run-2"}
    bad = client.post("/api/v1/changes", json={**BODY, "service": "nope"}, headers=headers)
    assert bad.status_code == 422
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    fixed = client.post("/api/v1/changes", json=BODY, headers=headers)
    assert fixed.status_code == 201


def test_concurrent_duplicates_open_one_change(client: TestClient, crew: Crew) -> None:
    headers = {**crew.pipeline.headers, "Idempotency-Key": "run-3"}

    def post(_: int) -> tuple[int, dict[str, object]]:
        answer = client.post("/api/v1/changes", json=BODY, headers=headers)
        return answer.status_code, answer.json()

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(post, range(6)))
    assert {status for status, _ in answers} <= {201, 409}, answers
    ids = {body["id"] for status, body in answers if status == 201}
    assert len(ids) == 1
    assert [c["id"] for c in changes_titled(client, crew, "Deploy blog 7")] == list(ids)


def test_keyed_writes_at_once_do_not_starve_a_small_pool(
    settings: Settings, db: Database, crew: Crew
) -> None:
    # The claim is taken when the endpoint's transaction begins, not when the session is
    # made: otherwise each request would hold a connection while its (uncached) token
    # waited for another, and six requests would deadlock three connections.
    small = settings.model_copy(update={"db_pool_size": 1})  # 1 + 2 overflow
    pool_db = Database(small.resolved_database_url, small)
    people = [make_person(pool_db, Role.DEVELOPER) for _ in range(6)]

    def post(n: int) -> int:
        headers = {**people[n].headers, "Idempotency-Key": f"burst-{n}"}
        body = {**BODY, "title": f"Burst {n}"}
        return client.post("/api/v1/changes", json=body, headers=headers).status_code

    try:
        with (
            TestClient(create_app(small, pool_db), raise_server_exceptions=False) as client,
            ThreadPoolExecutor(max_workers=6) as pool,
        ):
            assert list(pool.map(post, range(6))) == [201] * 6
    finally:
        pool_db.dispose()
