"""Fixtures shared by the whole suite: databases (SQLite and PostgreSQL), apps, clients."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this run, migrated once (None without a server)."""
    server = postgres_server_url()
    if server is None:
        yield None
        return
    with fresh_postgres_database(server) as url:
        migrate.upgrade(url)
        yield url


def _empty_postgres(url: str) -> None:
    tables = [t.name for t in Base.metadata.sorted_tables]
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        conn.execute(
            text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64}
        )
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_database: str | None,
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
    return postgres_database


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings pointing at the test's database and a private home."""
    return Settings(home=tmp_path / "home", database_url=database_url, secret_key="test-secret")


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
