"""Cached tokens: revocation, deactivation and role changes still take effect at once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from flywheel.app import create_app
from flywheel.auth.models import User
from flywheel.auth.roles import Role
from flywheel.auth.token_cache import token_cache
from flywheel.config import Settings
from flywheel.db import Database
from tests.factories import make_person


@pytest.fixture(autouse=True)
def cache_on(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """FLYWHEEL_TOKEN_CACHE_SECONDS=5 (the app set the default, off, when it was built)."""
    monkeypatch.setattr(token_cache, "seconds", 5.0)


def test_a_revoked_token_stops_working_although_it_was_cached(
    client: TestClient, db: Database
) -> None:
    dev = make_person(db)
    made = client.post("/api/v1/tokens", json={"name": "ci"}, headers=dev.headers).json()
    ci = {"Authorization": f"Bearer {made['token']}"}
    assert client.get("/api/v1/me", headers=ci).status_code == 200
    assert client.get("/api/v1/me", headers=ci).status_code == 200  # from the cache
    assert client.delete(f"/api/v1/tokens/{made['id']}", headers=dev.headers).is_success
    refused = client.get("/api/v1/me", headers=ci)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]


def test_a_deactivated_users_token_stops_working(client: TestClient, db: Database) -> None:
    admin, dev = make_person(db, Role.ADMIN), make_person(db)
    me = client.get("/api/v1/me", headers=dev.headers).json()
    user = client.get(f"/api/v1/users/{dev.username}", headers=admin.headers).json()
    assert me["username"] == dev.username
    deactivate = {"version": user["version"], "is_active": False}
    answer = client.patch(f"/api/v1/users/{dev.username}", json=deactivate, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    refused = client.get("/api/v1/me", headers=dev.headers)
    assert refused.status_code == 401
    assert "deactivated" in refused.json()["error"]["message"]


def test_a_role_change_takes_effect_at_once(client: TestClient, db: Database) -> None:
    admin, dev = make_person(db, Role.ADMIN), make_person(db, Role.AUDITOR)
    assert client.get("/api/v1/audit", headers=dev.headers).status_code == 200
    user = client.get(f"/api/v1/users/{dev.username}", headers=admin.headers).json()
    body = {"version": user["version"], "roles": ["developer"]}
    answer = client.patch(f"/api/v1/users/{dev.username}", json=body, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    assert client.get("/api/v1/audit", headers=dev.headers).status_code == 403


def test_a_write_outside_the_api_empties_the_cache_too(client: TestClient, db: Database) -> None:
    dev = make_person(db)
    assert client.get("/api/v1/me", headers=dev.headers).status_code == 200
    before = token_cache.generation
    with db.engine.begin() as conn:  # e.g. `flywheel user` on this process's engine
        conn.execute(update(User).where(User.id == dev.user_id).values(is_active=False))
    assert token_cache.generation > before
    assert client.get("/api/v1/me", headers=dev.headers).status_code == 401


def test_another_process_lags_by_at_most_the_cache_time(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = make_person(db)
    assert client.get("/api/v1/me", headers=dev.headers).status_code == 200
    # Raw SQL stands for a deactivation by another process, which this one never sees.
    generation = token_cache.generation
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE users SET is_active = false WHERE id = {dev.user_id}")
    assert token_cache.generation == generation
    assert client.get("/api/v1/me", headers=dev.headers).status_code == 200  # cached
    monkeypatch.setattr(token_cache, "seconds", 0.0)  # CACHE_SECONDS have passed
    assert client.get("/api/v1/me", headers=dev.headers).status_code == 401


def test_the_cache_is_off_by_default(settings: Settings, db: Database) -> None:
    with TestClient(create_app(settings, db)) as fresh:
        dev = make_person(db)
        assert fresh.get("/api/v1/me", headers=dev.headers).status_code == 200
        with db.engine.begin() as conn:  # another process's deactivation
            conn.exec_driver_sql(f"UPDATE users SET is_active = false WHERE id = {dev.user_id}")
        assert token_cache.seconds == 0
        assert fresh.get("/api/v1/me", headers=dev.headers).status_code == 401
