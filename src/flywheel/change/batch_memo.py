"""What the changes of one decision batch share, and what they leave for its end.

Inside `batch_reads.shared_reads`, a batch (change.decisions) reads once what every
change needs (the CIs and external ids of all its requests), opens its changes at one
instant with numbers taken in advance, and writes them all at one flush. So a change
must see the batch's earlier changes here rather than in the database: as the same
external_id, and as candidates for conflicts. Outside a batch none of this applies and
each function says so (None or False).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from flywheel.batch_reads import remember, sharing
from flywheel.bulk_insert import insert_rows
from flywheel.change.conflicts import PlannedChange
from flywheel.change.lifecycle import State
from flywheel.change.models import ChangeCI, ChangeCommit, ChangeRequest, ChangeTransition
from flywheel.change.schemas import ChangeCreate
from flywheel.cmdb import service as cmdb
from flywheel.db import utcnow

if TYPE_CHECKING:  # the row cmdb.service returns; the change domain never queries it
    from flywheel.cmdb.models import ConfigurationItem

NOW, CIS, EXTERNAL = "change.now", "change.cis", "change.external_ids"
ACTIVE, TRANSITIONS, CHANGES = "change.batch_active", "change.transitions", "change.new"
_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('changes', 'id')) FROM generate_series(1, :n)"
)
ACTIVE_STATES = frozenset({State.AUTHORIZE.value, State.SCHEDULED.value, State.IMPLEMENT.value})


def batch_now(session: Session) -> datetime:
    """The instant the batch opens its changes at (now, outside a batch)."""
    return remember(session, NOW, utcnow)


def prefetch(session: Session, requests: Iterable[ChangeCreate]) -> None:
    """Read the CIs and the already-opened external ids of all the batch's requests at once."""
    memo = sharing(session)
    if memo is None:
        return
    wanted = list(requests)
    keys = {k for data in wanted for k in (data.service, *data.cis)}
    memo[CIS] = {c.key: c for c in cmdb.find_cis(session, keys=sorted(keys))}
    pairs = {(d.service, d.external_id) for d in wanted if d.external_id is not None}
    found: dict[tuple[str, str], ChangeRequest] = {}
    if pairs:
        # Two IN lists walk the (service, external_id) unique index; a row-value IN would not.
        query = select(ChangeRequest).where(
            ChangeRequest.service.in_({s for s, _ in pairs}),
            ChangeRequest.external_id.in_({e for _, e in pairs}),
        )
        rows = session.scalars(query)
        found = {
            (c.service, c.external_id or ""): c for c in rows if (c.service, c.external_id) in pairs
        }
    memo[EXTERNAL] = found
    memo[ACTIVE] = []
    memo[TRANSITIONS] = []
    memo[CHANGES] = []


def known_cis(session: Session) -> dict[str, ConfigurationItem] | None:
    """The batch's CIs by key (None outside a batch)."""
    memo = sharing(session)
    return None if memo is None else memo.get(CIS)


def known_change(session: Session, data: ChangeCreate) -> tuple[bool, ChangeRequest | None]:
    """(whether the batch knows, the change already opened with this external_id)."""
    memo = sharing(session)
    if memo is None or EXTERNAL not in memo or data.external_id is None:
        return False, None
    found: dict[tuple[str, str], ChangeRequest] = memo[EXTERNAL]
    return True, found.get((data.service, data.external_id))


def opened_in_batch(session: Session, change: ChangeRequest) -> None:
    """Keep the change for the batch's end; let its later changes see this one."""
    memo = sharing(session)
    if memo is None or EXTERNAL not in memo:
        return
    memo[CHANGES].append(change)
    if change.external_id is not None:
        memo[EXTERNAL][(change.service, change.external_id)] = change
    if change.state in ACTIVE_STATES:
        start = change.planned_start or change.created_at
        cis = frozenset({change.service, *change.ci_keys})
        memo[ACTIVE].append(PlannedChange(change.id, cis, start, change.planned_end))


def planned_in_batch(session: Session) -> list[PlannedChange]:
    """The batch's earlier changes that are active, as conflict detection sees them."""
    memo = sharing(session)
    return [] if memo is None else list(memo.get(ACTIVE, ()))


def defer_transitions(session: Session, rows: list[dict[str, Any]]) -> bool:
    """Keep timeline rows for the batch's end (False outside a batch: insert them now)."""
    memo = sharing(session)
    if memo is None or TRANSITIONS not in memo:
        return False
    memo[TRANSITIONS].extend(rows)
    return True


def write_batch(session: Session) -> None:
    """Insert the batch's changes, their CIs and commits, then their timeline rows.

    A statement per table for the whole batch (bulk_insert), not the ORM's unit of work:
    the change objects stay as they were built, and the answers are read from them.
    """
    memo = sharing(session)
    if memo is None or CHANGES not in memo:
        return
    conn = session.connection()
    changes: list[ChangeRequest] = memo[CHANGES]
    insert_rows(
        conn,
        _CHANGES,
        [{c.key: getattr(change, c.key) for c in _CHANGES.columns} for change in changes],
    )
    cis = [{"change_id": ch.id, "ci_key": ci.ci_key} for ch in changes for ci in ch.cis]
    insert_rows(conn, _table(ChangeCI), cis)
    commits = [_commit_row(ch.id, commit) for ch in changes for commit in ch.commits]
    insert_rows(conn, _table(ChangeCommit), commits)
    insert_rows(conn, _table(ChangeTransition), memo[TRANSITIONS])
    changes.clear()
    memo[TRANSITIONS] = []


def _change_row(change: ChangeRequest) -> dict[str, Any]:
    return {column.key: getattr(change, column.key) for column in _CHANGES.columns}


def _commit_row(change_id: int, commit: ChangeCommit) -> dict[str, Any]:
    return {
        "change_id": change_id,
        "position": commit.position,
        "sha": commit.sha,
        "author": commit.author,
        "authored_at": commit.authored_at,
        "message": commit.message,
    }


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


_CHANGES = _table(ChangeRequest)


def reserve_numbers(session: Session, count: int) -> list[int]:
    """Ids for `count` new changes, ascending, taken before their rows are written.

    PostgreSQL hands them out from the table's sequence; on SQLite the batch holds the
    write lock, so the next ids are those after the highest.
    """
    if count <= 0:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        taken = conn.execute(_NEXT_IDS, {"n": count})
        return sorted(int(row[0]) for row in taken)
    top = conn.execute(select(func.max(ChangeRequest.id))).scalar() or 0
    return list(range(int(top) + 1, int(top) + 1 + count))
