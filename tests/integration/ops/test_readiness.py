"""/readyz during a rolling upgrade: behind is not ready, a newer schema still serves."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from flywheel import migrate
from flywheel.db import Database


@pytest.fixture
def revisions(db: Database) -> Iterator[Callable[[str], None]]:
    """Set the database's revision; the real one is put back (the PostgreSQL one is shared)."""

    def set_revision(revision: str | None) -> None:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})

    yield set_revision
    set_revision(migrate.head_revision())


def test_the_newest_schema_is_ready(client: TestClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["schema"] == migrate.head_revision()
    assert ready.json()["schema_state"] == "current"


def test_a_schema_behind_this_version_is_not_ready(
    client: TestClient, revisions: Callable[[str], None]
) -> None:
    revisions("0016")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "0016" in ready.json()["error"]["message"]


def test_a_schema_a_newer_version_migrated_still_serves(
    client: TestClient, revisions: Callable[[str], None]
) -> None:
    revisions("9999_from_a_newer_flywheel")
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["schema_state"] == "ahead"


@pytest.mark.parametrize(
    ("revision", "state"),
    [(None, "missing"), ("0001", "behind"), ("not-a-revision", "ahead")],
)
def test_schema_state_names_where_a_database_stands(revision: str | None, state: str) -> None:
    assert migrate.schema_state(revision) == state
