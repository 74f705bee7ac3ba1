"""Abuse limits: 429 with Retry-After per token and per address, health checks exempt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from flywheel.app import create_app
from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.db import Database
from tests.factories import make_person


@pytest.fixture
def strict(settings: Settings, db: Database, tmp_path: Path) -> Iterator[TestClient]:
    """An app whose limits are small enough to reach in a test."""
    tight = settings.model_copy(
        update={
            "rate_limit_per_s": 0.5,
            "rate_limit_burst": 5,
            "rate_limit_anonymous_per_s": 0.5,
            "rate_limit_anonymous_burst": 3,
        }
    )
    with TestClient(create_app(tight, db), raise_server_exceptions=False) as c:
        yield c


def test_a_token_over_its_limit_gets_429_and_others_go_on(strict: TestClient, db: Database) -> None:
    first = make_person(db, Role.DEVELOPER, username="flood")
    second = make_person(db, Role.DEVELOPER, username="calm")
    codes = [strict.get("/api/v1/me", headers=first.headers).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    refused = strict.get("/api/v1/me", headers=first.headers)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limited"
    assert strict.get("/api/v1/me", headers=second.headers).status_code == 200


def test_callers_without_a_token_are_limited_by_address(strict: TestClient) -> None:
    codes = [strict.get("/api/v1/me").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    assert strict.post("/sign-in", data={"username": "x", "password": "y"}).status_code == 429


def test_health_checks_are_never_limited(strict: TestClient) -> None:
    assert all(strict.get("/healthz").status_code == 200 for _ in range(10))


def test_limits_can_be_switched_off(settings: Settings, db: Database) -> None:
    off = settings.model_copy(update={"rate_limit_enabled": False, "rate_limit_anonymous_burst": 1})
    with TestClient(create_app(off, db), raise_server_exceptions=False) as c:
        assert [c.get("/api/v1/me").status_code for _ in range(5)] == [401] * 5
