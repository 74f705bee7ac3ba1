"""Hostile input: injection strings in every free-text filter, traversal, deep JSON bodies."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flywheel.auth.models import User
from flywheel.auth.roles import Role
from flywheel.db import Database
from tests.factories import make_integration, make_person

INJECTIONS = [
    "' OR '1'='1",
    "%' OR 1=1 --",
    '"; DROP TABLE users; --',
    "x' UNION SELECT password_hash FROM users --",
    "../../../../etc/passwd",
    "\x00",
]
DEEP = "[" * 100_000 + "]" * 100_000


def _string_filters(client: TestClient) -> list[tuple[str, str]]:
    """(path, query parameter) of every GET operation without path parameters."""
    spec: dict[str, Any] = client.get("/openapi.json").json()
    found = []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        for param in get.get("parameters", []):
            schema = param.get("schema", {})
            types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
            if param["in"] == "query" and "string" in types:
                found.append((path, param["name"]))
    return found


def test_injection_strings_in_every_text_filter_are_plain_text(
    client: TestClient, db: Database
) -> None:
    admin = make_person(db, Role.ADMIN)
    filters = _string_filters(client)
    assert len(filters) > 10
    with db.session() as session:
        users_before = session.scalar(select(func.count()).select_from(User))
    for path, name in filters:
        for attempt in INJECTIONS:
            answer = client.get(path, params={name: attempt}, headers=admin.headers)
            assert answer.status_code < 500, f"{path}?{name}={attempt!r}: {answer.text[:200]}"
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == users_before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cis/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/v1/cis/../../etc/passwd",
        "/assets/../../../../etc/passwd",
        "/assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_path_traversal_finds_nothing(client: TestClient, db: Database, path: str) -> None:
    admin = make_person(db, Role.ADMIN)
    answer = client.get(path, headers=admin.headers)
    assert answer.status_code in (404, 422)
    assert "root:" not in answer.text


def test_deeply_nested_json_is_refused_not_a_crash(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    token = make_integration(db)
    headers = {**admin.headers, "Content-Type": "application/json"}
    for path in ("/api/v1/teams", "/api/v1/alerts", "/api/v1/changes", "/api/v1/cmdb/import"):
        answer = client.post(path, content=DEEP, headers=headers)
        assert answer.status_code in (400, 422), f"{path}: {answer.status_code}"
    webhook = client.post(
        f"/api/v1/integrations/alertmanager?token={token}",
        content=DEEP,
        headers={"Content-Type": "application/json"},
    )
    assert webhook.status_code in (400, 422)
