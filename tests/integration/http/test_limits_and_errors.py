"""Request size limits, request ids, and the shape of every error."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from flywheel.app import create_app
from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.db import Database
from tests.factories import make_person


def test_oversized_body_is_refused_with_413(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    huge = {"key": "big", "name": "Big", "description": "x" * 2_000_000}
    response = client.post("/api/v1/teams", json=huge, headers=admin.headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert client.get("/api/v1/teams/big", headers=admin.headers).status_code == 404


def test_oversized_chunked_body_is_refused_with_413(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)

    def chunks() -> Iterator[bytes]:
        yield b'{"key": "big", "name": "Big", "description": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    headers = {**admin.headers, "Content-Type": "application/json"}
    response = client.post("/api/v1/teams", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert client.get("/api/v1/teams/big", headers=admin.headers).status_code == 404


def test_request_id_is_echoed_and_recorded(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    response = client.post(
        "/api/v1/teams",
        json={"key": "sre", "name": "SRE"},
        headers={**admin.headers, "X-Request-ID": "pipeline-42"},
    )
    assert response.headers["x-request-id"] == "pipeline-42"
    events = client.get("/api/v1/audit?request_id=pipeline-42", headers=admin.headers).json()
    assert [e["action"] for e in events["items"]] == ["team.create"]
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"


def test_unknown_paths_and_methods_get_json_errors(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    missing = client.get("/api/v1/nothing-here", headers=admin.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = client.put("/api/v1/users", headers=admin.headers)
    assert wrong.status_code == 405
    assert client.get("/api/v1/users/nobody", headers=admin.headers).status_code == 404
    bad_id = client.delete("/api/v1/tokens/not-a-number", headers=admin.headers)
    assert bad_id.status_code == 422


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/users" in spec["paths"]


def test_unexpected_errors_are_json_500_with_the_request_id(
    settings: Settings, db: Database
) -> None:
    app = create_app(settings, db)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500
    body = response.json()
    assert body["request_id"] == "trace-me"
    assert body["error"]["code"] == "internal_error"
    assert "secret internals" not in response.text


def test_an_id_beyond_64_bits_is_bad_input_not_a_crash(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    answer = client.get("/api/v1/changes/99999999999999999999999", headers=admin.headers)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_input"
