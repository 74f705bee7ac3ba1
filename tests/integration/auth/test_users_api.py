"""Users and teams over the API: happy paths, bad input, conflicts, separation of duties."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from flywheel.auth import service
from flywheel.auth.roles import Role
from flywheel.auth.schemas import UserUpdate
from flywheel.db import Database
from flywheel.errors import Conflict
from tests.factories import SYSTEM, Person, make_person


def audit_count(client: TestClient, admin: Person) -> int:
    return len(client.get("/api/v1/audit?limit=1000", headers=admin.headers).json()["items"])


def test_admin_creates_reads_and_lists_users(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    body = {"username": "bob", "full_name": "Bob", "roles": ["developer", "operator"]}
    created = client.post("/api/v1/users", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["developer", "operator"]
    assert client.get("/api/v1/users/bob", headers=admin.headers).json()["full_name"] == "Bob"
    ops = client.get("/api/v1/users?role=operator", headers=admin.headers).json()
    assert [u["username"] for u in ops["items"]] == ["bob"]


def test_listing_pages_with_a_cursor(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    for i in range(5):
        make_person(db, username=f"dev{i}")
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/users?{query}", headers=admin.headers).json()
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [admin.username] + [f"dev{i}" for i in range(5)]
    bad = client.get("/api/v1/users?cursor=abc", headers=admin.headers)
    assert bad.status_code == 422


def test_bad_user_input_is_refused_and_nothing_is_stored(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    before = audit_count(client, admin)
    cases = [
        {"username": "carol", "colour": "blue"},  # unknown field
        {"username": "carol", "roles": "admin"},  # wrong type
        {"username": "carol", "roles": ["wizard"]},  # unknown role
        {"username": "Not A Slug"},
        {"username": "carol", "email": "not-an-email"},
        {"username": "carol", "password": "short"},
        {},
    ]
    for body in cases:
        response = client.post("/api/v1/users", json=body, headers=admin.headers)
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["message"].startswith("invalid request")
    not_json = client.post(
        "/api/v1/users",
        content=b"{not json",
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 422
    assert client.get("/api/v1/users/carol", headers=admin.headers).status_code == 404
    assert audit_count(client, admin) == before


def test_duplicate_username_is_a_conflict(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    assert client.post("/api/v1/users", json={"username": "dan"}, headers=admin.headers).is_success
    again = client.post("/api/v1/users", json={"username": "dan"}, headers=admin.headers)
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]["message"]


def test_stale_version_is_a_conflict_and_changes_nothing(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    make_person(db, username="erin")
    url = "/api/v1/users/erin"
    v1 = client.get(url, headers=admin.headers).json()["version"]
    first = client.patch(url, json={"version": v1, "full_name": "Erin A"}, headers=admin.headers)
    assert first.status_code == 200
    assert first.json()["version"] == v1 + 1
    stale = client.patch(url, json={"version": v1, "full_name": "Erin B"}, headers=admin.headers)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_version"
    assert stale.json()["error"]["details"]["current_version"] == v1 + 1
    assert client.get(url, headers=admin.headers).json()["full_name"] == "Erin A"
    missing = client.patch(url, json={"full_name": "x"}, headers=admin.headers)
    assert missing.status_code == 422


def test_nobody_changes_their_own_roles(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    other_admin = make_person(db, Role.ADMIN)
    me = client.get(f"/api/v1/users/{admin.username}", headers=admin.headers).json()
    body = {"version": me["version"], "roles": ["admin", "auditor"]}
    own = client.patch(f"/api/v1/users/{admin.username}", json=body, headers=admin.headers)
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "separation_of_duties"
    by_other = client.patch(
        f"/api/v1/users/{admin.username}", json=body, headers=other_admin.headers
    )
    assert by_other.status_code == 200
    assert by_other.json()["roles"] == ["admin", "auditor"]


def test_the_last_admin_cannot_be_removed(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    second = make_person(db, Role.ADMIN)
    user = client.get(f"/api/v1/users/{admin.username}", headers=second.headers).json()
    demoted = client.patch(
        f"/api/v1/users/{admin.username}",
        json={"version": user["version"], "roles": ["developer"]},
        headers=second.headers,
    )
    assert demoted.status_code == 200
    me = client.get(f"/api/v1/users/{second.username}", headers=second.headers).json()
    # second is now the only admin; it cannot deactivate itself (SoD) ...
    own = client.patch(
        f"/api/v1/users/{second.username}",
        json={"version": me["version"], "is_active": False},
        headers=second.headers,
    )
    assert own.status_code == 403


def test_deactivated_users_cannot_use_their_tokens(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    dev = make_person(db)
    version = client.get(f"/api/v1/users/{dev.username}", headers=admin.headers).json()["version"]
    off = client.patch(
        f"/api/v1/users/{dev.username}",
        json={"version": version, "is_active": False},
        headers=admin.headers,
    )
    assert off.status_code == 200
    denied = client.get("/api/v1/me", headers=dev.headers)
    assert denied.status_code == 401
    assert "deactivated" in denied.json()["error"]["message"]


def test_teams_with_members(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    make_person(db, username="fay")
    body = {"key": "payments", "name": "Payments", "members": ["fay"]}
    created = client.post("/api/v1/teams", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["members"] == ["fay"]
    assert client.get("/api/v1/users/fay", headers=admin.headers).json()["teams"] == ["payments"]
    unknown = client.post(
        "/api/v1/teams",
        json={"key": "ops", "name": "Ops", "members": ["ghost"]},
        headers=admin.headers,
    )
    assert unknown.status_code == 422
    assert "ghost" in unknown.json()["error"]["message"]
    assert client.get("/api/v1/teams/ops", headers=admin.headers).status_code == 404
    patched = client.patch(
        "/api/v1/teams/payments",
        json={"version": created.json()["version"], "members": []},
        headers=admin.headers,
    )
    assert patched.json()["members"] == []


def test_the_system_cannot_remove_the_last_admin(db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    with db.session(write=True) as session:
        user = service.get_user(session, username=admin.username)
        update = UserUpdate(version=user.version, roles=[Role.DEVELOPER])
        with pytest.raises(Conflict, match="no active admin"):
            service.update_user(session, actor=SYSTEM, username=admin.username, data=update)
        session.rollback()
    with db.session() as session:
        assert service.get_user(session, username=admin.username).role_names == ["admin"]
