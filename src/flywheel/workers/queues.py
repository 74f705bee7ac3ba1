"""What waits to be worked on: each domain registers a reader of its own queue (depth, oldest)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import QueryableAttribute, Session


@dataclass(frozen=True)
class QueueStat:
    """How many items are due, and since when the oldest of them has been waiting."""

    depth: int
    oldest: datetime | None

    def lag_s(self, now: datetime) -> float:
        """Seconds the oldest due item has waited (0 for an empty queue)."""
        return max(0.0, (now - self.oldest).total_seconds()) if self.oldest else 0.0


QueueReader = Callable[[Session, datetime], QueueStat]
READERS: dict[str, QueueReader] = {}


def register(name: str, reader: QueueReader) -> None:
    """Add (or replace) the reader of one queue."""
    READERS[name] = reader


def read_all(session: Session, now: datetime) -> dict[str, QueueStat]:
    """Every registered queue, by name."""
    return {name: reader(session, now) for name, reader in sorted(READERS.items())}


def due_stat(
    session: Session, since: QueryableAttribute[Any], *where: ColumnElement[bool]
) -> QueueStat:
    """Count the rows matching `where` and the earliest `since` among them."""
    depth, oldest = session.execute(select(func.count(), func.min(since)).where(*where)).one()
    return QueueStat(int(depth), oldest)
