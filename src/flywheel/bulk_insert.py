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
import json
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import JSON, Connection, Table, insert
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
    types = [table.c[name].type.dialect_impl(dialect) for name in columns]
    casts = [f"%b::{kind.compile(dialect=dialect)}[]" for kind in types]
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({', '.join(casts)})"
    )
    return sql, [_processor(kind, dialect) for kind in types]


def _dialect_type(kind: Any, dialect: Dialect) -> Any:
    """The column type as this dialect sees it (a with_variant resolved)."""
    return (
        kind._variant_mapping.get(dialect.name, kind) if hasattr(kind, "_variant_mapping") else kind
    )


def _processor(kind: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a value of the column type goes into its array: JSON as text, like SQLAlchemy."""
    if isinstance(kind, JSON):
        # None is JSON null unless the type says SQL NULL (what the ORM and Core store).
        empty = None if kind.none_as_null else "null"
        return lambda value: empty if value is None else json.dumps(value)
    return cast(Callable[[Any], Any] | None, kind.bind_processor(dialect))
