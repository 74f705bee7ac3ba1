"""Bulk import on PostgreSQL: one statement per batch, its rows passed as one text each.

CIs go as one JSON array (names and attributes can hold any character). Keys and
links go as comma-separated texts, one per column, that the server splits with
`string_to_array`: CI keys cannot hold a comma (CI_KEY_PATTERN), and joining strings
is cheaper for the client than JSON, and splitting them cheaper for the server than
parsing JSON. Lists of strings passed as arrays would be quoted element by element in
Python by the driver, and COPY needs a temporary table.

Each insert is a data-modifying CTE whose RETURNING rows feed the history insert,
so the rows and their history are written in one round trip and only the rows this
transaction inserted get history, whatever other writers do meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from flywheel.cmdb.bulk_writer import FOUND_COLUMNS, CIRow, Link, StagedLinks, Stamp
from flywheel.errors import Conflict

_ENCODE = json.JSONEncoder(separators=(",", ":")).encode

_HISTORY = (
    "INSERT INTO cmdb_changes (audit_seq, occurred_at, actor, op, ci_key, other_key, before, after)"
)
_INSERT_CIS = f"""
WITH new AS (
    INSERT INTO cis AS c (key, name, type, environment, status, criticality, owner_team, min_up,
                          attributes, created_at, updated_at, version)
    SELECT e->>0, e->>1, e->>2, e->>3, e->>4, (e->>5)::int, e->>6, e->>7, (e->>8)::jsonb,
           %(now)s, %(now)s, 1
    FROM jsonb_array_elements(%(rows)s::jsonb) AS e
    ON CONFLICT (key) DO NOTHING
    RETURNING c.*
)
{_HISTORY}
SELECT %(seq)s, %(now)s, %(actor)s, 'ci.create', key, NULL, NULL,
       jsonb_build_object('key', key, 'name', name, 'type', type, 'environment', environment,
                          'status', status, 'criticality', criticality,
                          'owner_team', owner_team, 'min_up', min_up, 'attributes', attributes)
FROM new
"""
# The keys for history come from the input rather than from joining `cis`: right after a
# bulk load the planner's statistics are stale and it would hash-join a full scan of
# `cis` per batch. The links come without duplicates (bulk._links drops them), so the
# join back to the input is one to one. New links wait in a temporary table for their
# history, which can only be written once the batch has its audit event.
_STAGE_TABLE = (
    "CREATE TEMPORARY TABLE cmdb_staged_links (id int, type text, optional bool,"
    " source_key text, target_key text) ON COMMIT DROP"
)
_STAGE_LINKS = """
WITH given AS MATERIALIZED (
    SELECT * FROM unnest(string_to_array(%s, ',')::int[], string_to_array(%s, ','),
                         string_to_array(%s, ',')::int[], string_to_array(%s, ',')::bool[],
                         string_to_array(%s, ','), string_to_array(%s, ','))
        AS g(source_id, type, target_id, optional, source_key, target_key)
), new AS (
    INSERT INTO ci_relationships AS r (source_id, type, target_id, optional, created_at)
    SELECT source_id, type, target_id, optional, now() FROM given
    ON CONFLICT (source_id, type, target_id) DO NOTHING
    RETURNING r.id, r.source_id, r.type, r.target_id, r.optional
)
INSERT INTO cmdb_staged_links
SELECT new.id, new.type, new.optional, g.source_key, g.target_key
FROM new JOIN given AS g USING (source_id, type, target_id)
"""
_LINK_HISTORY = f"""
{_HISTORY}
SELECT %(seq)s, %(now)s, %(actor)s, 'rel.create', source_key, target_key, NULL,
       jsonb_build_object('id', id, 'source', source_key, 'type', type,
                          'target', target_key, 'optional', optional)
FROM cmdb_staged_links ORDER BY id
"""
_BY_KEYS = " FROM cis WHERE key = ANY(string_to_array(%s, ','))"
_BOOL = {True: "t", False: "f"}


def _cursor(conn: Connection) -> Any:
    driver: Any = conn.connection.driver_connection
    return driver.cursor()


def _stamped(stamp: Stamp) -> dict[str, Any]:
    return {"seq": stamp.audit_seq, "now": stamp.now, "actor": stamp.actor}


def _joined(texts: Iterable[str]) -> str:
    """Texts joined by commas, for string_to_array; none may hold a comma."""
    items = list(texts)
    joined = ",".join(items)
    if joined.count(",") != max(len(items) - 1, 0):
        raise ValueError("a CI key or relationship type holds a comma")
    return joined


def prepare_bulk(conn: Connection) -> None:
    """Commit without waiting for the WAL flush (a server crash may lose the last commits,
    never half of one): what SQLite's synchronous=NORMAL in WAL mode gives too."""
    with _cursor(conn) as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO off")


def ci_ids(conn: Connection, keys: list[str]) -> dict[str, tuple[int, str]]:
    """Id and type of each CI whose key is given."""
    with _cursor(conn) as cursor:
        cursor.execute("SELECT key, id, type" + _BY_KEYS, (_joined(keys),))
        return {key: (ci_id, ci_type) for key, ci_id, ci_type in cursor}


def find_cis(conn: Connection, keys: list[str]) -> list[tuple[Any, ...]]:
    """The FOUND_COLUMNS of each CI whose key is given."""
    with _cursor(conn) as cursor:
        cursor.execute(f"SELECT {', '.join(FOUND_COLUMNS)}{_BY_KEYS}", (_joined(keys),))
        return list(cursor.fetchall())


def insert_cis(conn: Connection, rows: list[CIRow], stamp: Stamp) -> int:
    """Insert new CIs and their history in one statement."""
    if not rows:
        return 0
    with _cursor(conn) as cursor:
        cursor.execute(_INSERT_CIS, {"rows": _ENCODE(rows)} | _stamped(stamp))
        inserted = int(cursor.rowcount)
    if inserted != len(rows):
        raise Conflict("CIs of this batch were created by someone else meanwhile: retry")
    return inserted


def stage_links(conn: Connection, links: list[Link]) -> StagedLinks:
    """Insert the links not stored yet, noting the new ones in a temporary table."""
    if not links:
        return None
    with _cursor(conn) as cursor:
        cursor.execute(_STAGE_TABLE)
        sources, types, targets, optional, source_keys, target_keys = zip(*links, strict=True)
        columns = (
            ",".join(map(str, sources)),
            _joined(types),
            ",".join(map(str, targets)),
            ",".join(map(_BOOL.__getitem__, optional)),
            _joined(source_keys),
            _joined(target_keys),
        )
        cursor.execute(_STAGE_LINKS, columns)
        return int(cursor.rowcount)


def link_history(conn: Connection, staged: StagedLinks, stamp: Stamp) -> int:
    """History for the links stage_links noted (its table goes at commit)."""
    if staged is None:
        return 0
    with _cursor(conn) as cursor:
        cursor.execute(_LINK_HISTORY, _stamped(stamp))
        return int(cursor.rowcount)
