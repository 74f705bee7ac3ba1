"""Batch INSERTs without SQLAlchemy's per-row parameter processing.

PostgreSQL gets the whole batch as one JSON array parameter (`jsonb_to_recordset`), so
the statement's text never changes and the server parses the rows in C; SQLite gets the
driver's executemany. Values are encoded as SQLAlchemy's column types would store them
(JSON as text and naive-UTC timestamps on SQLite, see `flywheel.db.UTCDateTime`), so
the ORM reads these rows like any other.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def _json_time(value: object) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"cannot store {type(value).__name__} as JSON")
    return value.astimezone(UTC).isoformat()


def sqlite_value(value: object) -> object:
    """A value as SQLAlchemy stores it in SQLite (JSON as text, naive UTC timestamps)."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


class BulkInsert:
    """An INSERT of many rows (dicts with every column), with an optional ON CONFLICT."""

    def __init__(self, table: str, columns: dict[str, str], conflict: str = "") -> None:
        self.columns = tuple(columns)
        names = ", ".join(columns)
        typed = ", ".join(f"{name} {kind}" for name, kind in columns.items())
        marks = ", ".join("?" for _ in columns)
        self.postgresql = (
            f"INSERT INTO {table} ({names}) SELECT {names} "
            f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({typed}) {conflict}"
        )
        self.sqlite = f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}"

    def execute(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Insert the rows in the session's transaction."""
        if not rows:
            return
        if session.get_bind().dialect.name == "postgresql":
            encoded = json.dumps(rows, default=_json_time, separators=(",", ":"))
            session.execute(text(self.postgresql), {"rows": encoded})
            return
        values = [tuple(sqlite_value(row[c]) for c in self.columns) for row in rows]
        connection = session.connection().connection.dbapi_connection
        cursor = connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(self.sqlite, values)
        finally:
            cursor.close()
