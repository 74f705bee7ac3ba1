"""API tokens: missing, invalid, expired and revoked tokens; shown once; self-service."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from flywheel.auth.models import ApiToken
from flywheel.auth.roles import Role
from flywheel.db import Database, utcnow
from tests.factories import make_person


def test_requests_without_a_valid_token_get_401(client: TestClient, db: Database) -> None:
    make_person(db, Role.ADMIN)
    cases = [
        {},
        {"Authorization": "Bearer fw_not-a-real-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ]
    for headers in cases:
        response = client.get("/api/v1/users", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"


def test_health_endpoints_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_expired_token_is_refused(client: TestClient, db: Database) -> None:
    dev = make_person(db)
    assert client.get("/api/v1/me", headers=dev.headers).status_code == 200
    with db.engine.begin() as conn:
        conn.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = client.get("/api/v1/me", headers=dev.headers)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_token_is_shown_once_and_revocable(client: TestClient, db: Database) -> None:
    dev = make_person(db)
    created = client.post("/api/v1/tokens", json={"name": "ci"}, headers=dev.headers)
    assert created.status_code == 201
    secret = created.json()["token"]
    listed = client.get("/api/v1/tokens", headers=dev.headers).json()
    assert {t["name"] for t in listed} == {"tests", "ci"}
    assert all("token" not in t for t in listed)
    assert secret not in str(listed)
    new_headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=new_headers).json()["username"] == dev.username
    token_id = created.json()["id"]
    first = client.delete(f"/api/v1/tokens/{token_id}", headers=dev.headers)
    again = client.delete(f"/api/v1/tokens/{token_id}", headers=dev.headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["revoked_at"] == again.json()["revoked_at"]
    revoked = client.get("/api/v1/me", headers=new_headers)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error"]["message"]


def test_only_admins_handle_other_peoples_tokens(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    dev = make_person(db)
    other = make_person(db)
    for_other = client.post(
        "/api/v1/tokens", json={"name": "x", "username": other.username}, headers=dev.headers
    )
    assert for_other.status_code == 403
    listing = client.get(f"/api/v1/tokens?username={other.username}", headers=dev.headers)
    assert listing.status_code == 403
    other_token = client.get(
        f"/api/v1/tokens?username={other.username}", headers=admin.headers
    ).json()[0]
    assert (
        client.delete(f"/api/v1/tokens/{other_token['id']}", headers=dev.headers).status_code == 404
    )
    by_admin = client.post(
        "/api/v1/tokens", json={"name": "ci", "username": other.username}, headers=admin.headers
    )
    assert by_admin.status_code == 201
    assert by_admin.json()["username"] == other.username
    assert by_admin.json()["created_by"] == admin.username


def test_token_expiry_must_be_in_the_future(client: TestClient, db: Database) -> None:
    dev = make_person(db)
    past = (utcnow() - timedelta(days=1)).isoformat()
    response = client.post(
        "/api/v1/tokens", json={"name": "old", "expires_at": past}, headers=dev.headers
    )
    assert response.status_code == 422
    naive = client.post(
        "/api/v1/tokens",
        json={"name": "local", "expires_at": "2030-01-01T00:00:00"},
        headers=dev.headers,
    )
    assert naive.status_code == 422
    assert "timezone" in naive.json()["error"]["message"]
    assert len(client.get("/api/v1/tokens", headers=dev.headers).json()) == 1
