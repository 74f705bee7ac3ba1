"""Steady load reuses database connections instead of opening one per request."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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
