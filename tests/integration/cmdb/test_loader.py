"""Loading a source batch by batch (two sessions taking turns on PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from flywheel.auth.actor import system_actor
from flywheel.cmdb import importer
from flywheel.cmdb.loader import import_source
from flywheel.cmdb.models import CmdbChange, ConfigurationItem, Relationship
from flywheel.db import Database
from flywheel.errors import InvalidInput

ACTOR = system_actor("test")
Row = tuple[int, str, dict[str, Any]]


def cis(count: int) -> list[Row]:
    rows: list[Row] = [(1, "ci", {"key": "svc", "name": "Service", "type": "business_service"})]
    rows += [
        (n + 2, "ci", {"key": f"t{n}", "name": f"T{n}", "type": "tenant"}) for n in range(count)
    ]
    return rows


def uses(tenants: range, first_line: int) -> list[Row]:
    return [
        (first_line + i, "relationship", {"source": f"t{n}", "type": "uses", "target": "svc"})
        for i, n in enumerate(tenants)
    ]


def counts(db: Database) -> tuple[int, int, int]:
    with db.session() as session:
        found = [
            session.scalar(select(func.count()).select_from(table))
            for table in (ConfigurationItem, Relationship)
        ]
        history = session.scalar(
            select(func.count()).where(CmdbChange.op == "rel.create").select_from(CmdbChange)
        )
    return int(found[0] or 0), int(found[1] or 0), int(history or 0)


def test_batches_commit_in_order_with_one_history_row_per_new_link(db: Database) -> None:
    rows = [*cis(30), *uses(range(30), 100), *uses(range(10, 30, 2), 200)]
    totals = import_source(db, importer.source_from("estate", rows), actor=ACTOR, batch_size=4)
    assert (totals.cis_created, totals.relationships_created) == (31, 30)
    assert totals.relationships_unchanged == 10  # sent twice, in later batches
    assert counts(db) == (31, 30, 30)
    with db.session() as session:
        feed = session.execute(
            select(CmdbChange.ci_key, CmdbChange.audit_seq)
            .where(CmdbChange.op == "rel.create")
            .order_by(CmdbChange.audit_seq, CmdbChange.id)
        ).all()
    assert [key for key, _ in feed] == [f"t{n}" for n in range(30)], "batches out of order"


def test_a_bad_batch_stops_the_import_and_only_earlier_batches_stay(db: Database) -> None:
    bad = (150, "relationship", {"source": "ghost", "type": "uses", "target": "svc"})
    rows = [*cis(20), *uses(range(0, 8), 100), bad, *uses(range(8, 20), 160)]
    source = importer.source_from("estate", rows)
    with pytest.raises(InvalidInput) as caught:
        import_source(db, source, actor=ACTOR, batch_size=4)
    message = caught.value.message
    assert message.startswith("estate:150: no configuration item 'ghost'"), message
    # 21 CIs in 6 batches, then 2 batches of 4 links; the third (with the bad row) fails
    assert "8 earlier batch(es) with 29 rows stay committed" in message
    assert counts(db) == (21, 8, 8)


def test_a_row_that_cannot_be_read_reports_what_was_committed(db: Database) -> None:
    unreadable = (170, "relationship", {"source": "t1", "type": "hugs", "target": "svc"})
    rows = [*cis(10), *uses(range(10), 100), unreadable]
    source = importer.source_from("estate", rows)
    with pytest.raises(InvalidInput) as caught:
        import_source(db, source, actor=ACTOR, batch_size=5)
    assert "estate:170: type: Input should be" in caught.value.message
    stored = counts(db)
    assert stored == (11, 10, 10)
    assert "5 earlier batch(es) with 21 rows stay committed" in caught.value.message


def test_the_same_links_in_adjacent_batches_are_stored_once(db: Database) -> None:
    # on PostgreSQL the second batch is staged while the first finishes: its inserts of
    # the same links wait for the first to commit, then find them there
    rows = [*cis(8), *uses(range(8), 100), *uses(range(8), 200), *uses(range(8), 300)]
    totals = import_source(db, importer.source_from("estate", rows), actor=ACTOR, batch_size=8)
    assert (totals.relationships_created, totals.relationships_unchanged) == (8, 16)
    assert counts(db) == (9, 8, 8)
