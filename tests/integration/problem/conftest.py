"""A problem desk: the small estate, people, and helpers to call the problem API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.db import Database
from tests.factories import Person, make_estate, make_person

API = "/api/v1"


@dataclass(frozen=True)
class ProblemDesk:
    """A client on a database with an estate, an admin, a developer and an auditor."""

    client: TestClient
    db: Database
    admin: Person
    dev: Person
    auditor: Person

    def call(self, method: str, path: str, body: Any = None, who: Person | None = None) -> Any:
        """The raw response of one API call (as the developer by default)."""
        headers = (who or self.dev).headers
        return self.client.request(method, API + path, json=body, headers=headers)

    def ok(self, method: str, path: str, body: Any = None, who: Person | None = None) -> Any:
        """The JSON answer of a call that must succeed."""
        response = self.call(method, path, body, who)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def problem(self, problem_id: int) -> dict[str, Any]:
        """The problem's detail."""
        found: dict[str, Any] = self.ok("GET", f"/problems/{problem_id}")
        return found


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The suite's settings with the problem worker off: tests run its passes themselves."""
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key="test-secret",
        work_database_url=f"sqlite:///{tmp_path}/work.sqlite",
        problem_worker_seconds=0,
    )


@pytest.fixture
def desk(client: TestClient, db: Database) -> ProblemDesk:
    with db.session(write=True) as session:
        make_estate(session)
        session.commit()
    return ProblemDesk(
        client=client,
        db=db,
        admin=make_person(db, Role.ADMIN, username="root"),
        dev=make_person(db, Role.DEVELOPER, username="dev"),
        auditor=make_person(db, Role.AUDITOR, username="audrey"),
    )
