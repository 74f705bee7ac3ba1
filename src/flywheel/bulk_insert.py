"""Many rows into one table in one statement, on both backends.

SQLite's driver runs `executemany` in C, one prepared statement for all rows. psycopg 3
sends one statement per row instead (pipelined), and a multi-row VALUES list is a new,
long query text each time, which psycopg parses again. So on PostgreSQL the rows go
as one array per column: `INSERT … SELECT * FROM unnest($1::type[], …)`, a short query
text that psycopg and the server prepare once, with the arrays sent in binary (text
arrays would be escaped element by element).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import Dialect


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the rows (all with the same keys) in one statement."""
    if not rows:
        return
    if conn.dialect.name != "postgresql" or len(rows) == 1:
        conn.execute(insert(table), list(rows))
        return
    columns = tuple(rows[0])
    sql, processors = _unnest_insert(conn.dialect, table, columns)
    arrays = [
        [process(row[name]) if process else row[name] for row in rows]
        for name, process in zip(columns, processors, strict=True)
    ]
    conn.exec_driver_sql(sql, tuple(arrays))


@functools.lru_cache(maxsize=64)
def _unnest_insert(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> tuple[str, list[Callable[[Any], Any] | None]]:
    """The INSERT … unnest statement of these columns, and each column's bind processor."""
    types = [table.c[name].type for name in columns]
    casts = [f"%b::{kind.compile(dialect=dialect)}[]" for kind in types]
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({', '.join(casts)})"
    )
    return sql, [kind.bind_processor(dialect) for kind in types]
