"""A small estate and the people who open and approve changes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.db import Database
from tests.factories import Person, make_ci, make_estate, make_person, relate


@dataclass(frozen=True)
class Crew:
    """Who takes part in the change process."""

    pipeline: Person
    dev: Person
    cm1: Person
    cm2: Person
    admin: Person


@pytest.fixture
def crew(db: Database) -> Crew:
    with db.session(write=True) as session:
        make_estate(session)
        make_ci(session, "blog", "business_service", criticality=4)
        make_ci(session, "blog-app")
        relate(session, "blog", "depends_on", "blog-app")
        session.commit()
    return Crew(
        pipeline=make_person(db, Role.DEVELOPER, username="pipeline"),
        dev=make_person(db, Role.DEVELOPER, username="dana"),
        cm1=make_person(db, Role.CHANGE_MANAGER, username="carl"),
        cm2=make_person(db, Role.CHANGE_MANAGER, username="cleo"),
        admin=make_person(db, Role.ADMIN, username="root"),
    )


def open_change(client: TestClient, who: Person, **body: object) -> dict[str, object]:
    payload = {"service": "blog", "title": "Deploy blog 1.2", **body}
    response = client.post("/api/v1/changes", json=payload, headers=who.headers)
    assert response.status_code in (200, 201), response.text
    data: dict[str, object] = response.json()
    return data
