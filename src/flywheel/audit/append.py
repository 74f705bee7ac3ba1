"""The audit append at the database driver: three statements, no ORM or SQL compilation.

Every state change in Flywheel pays for this, so it talks to the DBAPI cursor of
the caller's own connection (same transaction) with statements written once per
dialect. Values are encoded exactly as the SQLAlchemy column types would store
them, so the ORM reads these rows like any other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import Connection

from flywheel.audit.chain import ChainRecord

_COLUMNS = (
    "seq, occurred_at, actor, actor_user_id, action, object_type, object_id, "
    "before, after, reason, request_id, prev_hash, hash"
)


@dataclass(frozen=True)
class _Dialect:
    lock_head: str
    insert_event: str
    move_head: str


_SQLITE = _Dialect(
    # The writer already holds SQLite's write lock (BEGIN IMMEDIATE).
    lock_head="SELECT seq, hash FROM audit_chain_head WHERE id = 1",
    insert_event=f"INSERT INTO audit_events ({_COLUMNS}) VALUES ({', '.join(['?'] * 13)})",
    move_head="UPDATE audit_chain_head SET seq = ?, hash = ? WHERE id = 1",
)
_POSTGRES_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s)"
_POSTGRES = _Dialect(
    lock_head="SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE",
    insert_event=f"INSERT INTO audit_events ({_COLUMNS}) VALUES {_POSTGRES_ROW}",
    move_head="UPDATE audit_chain_head SET seq = %s, hash = %s WHERE id = 1",
)


_INSERT_UNNEST = (
    f"INSERT INTO audit_events ({_COLUMNS}) SELECT * FROM unnest("
    "%b::bigint[], %b::timestamptz[], %b::text[], %b::int[], %b::text[], %b::text[], "
    "%b::text[], %b::jsonb[], %b::jsonb[], %b::text[], %b::text[], %b::text[], %b::text[])"
)


def _dialect(conn: Connection) -> _Dialect:
    return _POSTGRES if conn.dialect.name == "postgresql" else _SQLITE


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


def read_head(conn: Connection) -> tuple[int, str] | None:
    """The chain head (seq, hash), locked against other writers until commit."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_dialect(conn).lock_head)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None else (int(row[0]), str(row[1]))


def _row(event: ChainRecord, sql: _Dialect) -> tuple[Any, ...]:
    moment = event.occurred_at.astimezone(UTC)
    stored_time: Any = moment
    if sql is _SQLITE:
        # SQLAlchemy's SQLite DATETIME format, naive UTC (see flywheel.db.UTCDateTime).
        stored_time = moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return (
        event.seq,
        stored_time,
        event.actor,
        event.actor_user_id,
        event.action,
        event.object_type,
        event.object_id,
        _json(event.before),
        _json(event.after),
        event.reason,
        event.request_id,
        event.prev_hash,
        event.hash,
    )


def write_event(conn: Connection, event: ChainRecord) -> None:
    """Insert the event and move the head to it, in the connection's transaction."""
    write_events(conn, [event])


def write_events(conn: Connection, events: Sequence[ChainRecord]) -> None:
    """Insert consecutive events (oldest first) and move the head to the last one."""
    if not events:
        return
    sql = _dialect(conn)
    rows = [_row(e, sql) for e in events]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if len(rows) == 1:
            cursor.execute(sql.insert_event, rows[0])
        elif sql is _POSTGRES:
            # One statement, a column per array: psycopg's executemany sends one per event.
            cursor.execute(_INSERT_UNNEST, [list(column) for column in zip(*rows, strict=True)])
        else:
            cursor.executemany(sql.insert_event, rows)
        cursor.execute(sql.move_head, (events[-1].seq, events[-1].hash))
    finally:
        cursor.close()
