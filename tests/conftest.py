"""Fixtures shared by the whole suite: databases (SQLite and PostgreSQL), apps, clients."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from flywheel import migrate
from flywheel.app import create_app
from flywheel.config import Settings
from flywheel.db import Base, Database
from tests.support import fresh_postgres_database, postgres_server_url, require_component

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "flywheel.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@dataclass(frozen=True)
class SeededDatabase:
    """A migrated database and the rows its migrations seeded, to restore between tests."""

    url: str
    seed: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[SeededDatabase | None]:
    """A fresh PostgreSQL database for this run, migrated once (None without a server)."""
    server = postgres_server_url()
    if server is None:
        yield None
        return
    with fresh_postgres_database(server) as url:
        migrate.upgrade(url)
        engine = create_engine(url)
        with engine.connect() as conn:
            seed = {
                t.name: [dict(r._mapping) for r in conn.execute(t.select())]
                for t in Base.metadata.sorted_tables
            }
        engine.dispose()
        yield SeededDatabase(url, {name: rows for name, rows in seed.items() if rows})


def _empty_postgres(database: SeededDatabase) -> None:
    """Truncate every table and put back what the migrations seeded."""
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    engine = create_engine(database.url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        for name, rows in database.seed.items():
            conn.execute(tables[name].insert(), rows)
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_database: SeededDatabase | None,
) -> str:
    """An empty, migrated database: each test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "flywheel.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    require_component(
        postgres_database is not None,
        "no PostgreSQL server: set FLYWHEEL_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)",
    )
    assert postgres_database is not None
    _empty_postgres(postgres_database)
    return postgres_database.url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings pointing at the test's database and a private home."""
    # Durable work keeps its state per test: runs of one test never resume in another.
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key="test-secret",
        work_database_url=f"sqlite:///{tmp_path}/work.sqlite",
        slo_alert_minutes=0,  # scheduled alert rounds would race the tests' own evaluations
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """The test's database."""
    database = Database(settings.resolved_database_url, settings)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A write session on the test's database."""
    with db.session(write=True) as s:
        yield s


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """An HTTP client for an app on the test's database."""
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as c:
        yield c
