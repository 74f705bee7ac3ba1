"""Database connections under request load: reused, and transactions as each session needs."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from flywheel.config import Settings
from flywheel.db import Database


def _busy_round(db: Database, width: int) -> None:
    """`width` sessions that each hold a connection at the same moment."""
    barrier = threading.Barrier(width)

    def hold(_: int) -> None:
        with db.session() as session:
            session.execute(text("SELECT 1"))
            barrier.wait(timeout=30)

    with ThreadPoolExecutor(max_workers=width) as pool:
        list(pool.map(hold, range(width)))


def test_connections_are_bounded_and_kept_between_bursts(settings: Settings) -> None:
    small = settings.model_copy(update={"db_pool_size": 2})
    db = Database(small.resolved_database_url, small)
    opened: list[Any] = []
    event.listen(db.engine, "connect", lambda conn, _record: opened.append(conn))
    try:
        width = 3 * small.db_pool_size  # the most a process may hold at once, either backend
        for _ in range(3):
            _busy_round(db, width)
        if db.dialect == "sqlite":
            assert len(opened) == width  # every one kept open, none re-opened per burst
        else:
            assert db.engine.pool.size() == small.db_pool_size  # type: ignore[attr-defined]
            assert width <= len(opened) <= 3 * width  # overflow beyond the pool is closed
    finally:
        db.dispose()


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Database]:
    """An SQLite database of its own with one table."""
    url = f"sqlite:///{tmp_path}/scratch.db"
    local = Settings(home=tmp_path / "home", database_url=url, secret_key="test-secret")
    db = Database(local.resolved_database_url, local)
    with db.session(write=True) as session:
        session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        session.commit()
    yield db
    db.dispose()


def _count(session: Any) -> int:
    return int(session.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_a_read_session_sees_one_snapshot_throughout(scratch: Database) -> None:
    with scratch.session() as reader:
        before = _count(reader)
        with scratch.session(write=True) as writer:
            writer.execute(text("INSERT INTO t DEFAULT VALUES"))
            writer.commit()
        assert _count(reader) == before  # still inside the transaction it began
    with scratch.session() as later:
        assert _count(later) == before + 1


def test_a_write_session_holds_the_write_lock_and_a_read_one_does_not(
    scratch: Database, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "scratch.db", timeout=0, isolation_level=None)
    try:
        with scratch.session() as reader:
            _count(reader)
            other.execute("BEGIN IMMEDIATE")  # a reader leaves the write lock free
            other.execute("ROLLBACK")
        with scratch.session(write=True) as writer:
            _count(writer)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()
