"""Idempotency-Key: a retried write is answered from the first attempt, not done twice."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from flywheel.auth.roles import Role
from flywheel.db import Database, utcnow
from flywheel.http.idempotency import CLAIM_TIMEOUT, KEEP_FOR, PURGE_EVERY, purge_expired
from flywheel.http.models import IdempotencyKey
from tests.factories import make_person


def audit_actions(client: TestClient, db: Database) -> list[str]:
    auditor = make_person(db, Role.AUDITOR)
    items = client.get("/api/v1/audit?limit=1000", headers=auditor.headers).json()["items"]
    return [e["action"] for e in items if e["action"].startswith("team.")]


def test_a_retry_replays_the_first_answer(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    headers = {**admin.headers, "Idempotency-Key": "create-payments-1"}
    body = {"key": "payments", "name": "Payments"}
    first = client.post("/api/v1/teams", json=body, headers=headers)
    retry = client.post("/api/v1/teams", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert audit_actions(client, db) == ["team.create"]
    without_key = client.post("/api/v1/teams", json=body, headers=admin.headers)
    assert without_key.status_code == 409


def test_reusing_a_key_for_another_request_is_refused(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    headers = {**admin.headers, "Idempotency-Key": "k1"}
    assert client.post("/api/v1/teams", json={"key": "a", "name": "A"}, headers=headers).is_success
    other = client.post("/api/v1/teams", json={"key": "b", "name": "B"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert client.get("/api/v1/teams/b", headers=admin.headers).status_code == 404


def test_a_failed_request_releases_its_key(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    headers = {**admin.headers, "Idempotency-Key": "k2"}
    bad = client.post("/api/v1/teams", json={"key": "c"}, headers=headers)
    assert bad.status_code == 422
    fixed = client.post("/api/v1/teams", json={"key": "c", "name": "C"}, headers=headers)
    assert fixed.status_code == 201


def test_keys_are_scoped_to_the_caller(client: TestClient, db: Database) -> None:
    one, two = make_person(db, Role.ADMIN), make_person(db, Role.ADMIN)
    body = {"key": "d", "name": "D"}
    first = client.post("/api/v1/teams", json=body, headers={**one.headers, "Idempotency-Key": "k"})
    second = client.post(
        "/api/v1/teams", json=body, headers={**two.headers, "Idempotency-Key": "k"}
    )
    assert first.status_code == 201
    assert (
        second.status_code == 409
    )  # a different caller's key does not replay someone else's answer


def test_an_oversized_key_is_refused(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    response = client.post(
        "/api/v1/teams",
        json={"key": "e", "name": "E"},
        headers={**admin.headers, "Idempotency-Key": "x" * 201},
    )
    assert response.status_code == 422


def _age_keys(db: Database, by: timedelta) -> None:
    with db.session(write=True) as session:
        session.execute(update(IdempotencyKey).values(created_at=utcnow() - by))
        session.commit()


def test_a_claim_abandoned_by_a_crash_is_taken_over(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    headers = {**admin.headers, "Idempotency-Key": "crashed"}
    first = client.post("/api/v1/teams", json={"key": "f", "name": "F"}, headers=headers)
    assert first.status_code == 201
    with db.session(write=True) as session:  # as if the process died before settling
        session.execute(update(IdempotencyKey).values(response_status=None))
        session.commit()
    in_progress = client.post("/api/v1/teams", json={"key": "f", "name": "F"}, headers=headers)
    assert in_progress.status_code == 409
    assert in_progress.json()["error"]["code"] == "idempotency_in_progress"
    _age_keys(db, CLAIM_TIMEOUT + timedelta(seconds=1))
    retaken = client.post("/api/v1/teams", json={"key": "g", "name": "G"}, headers=headers)
    assert retaken.status_code == 201
    assert retaken.json()["key"] == "g"


def test_expired_keys_are_purged_periodically(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    for n in range(3):
        headers = {**admin.headers, "Idempotency-Key": f"old-{n}"}
        assert client.post("/api/v1/teams", json={"key": f"h{n}", "name": "H"}, headers=headers)
    _age_keys(db, KEEP_FOR + timedelta(minutes=1))
    assert purge_expired(db, now=utcnow()) == 0  # purged less than PURGE_EVERY ago
    assert purge_expired(db, now=utcnow() + PURGE_EVERY) == 3
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
