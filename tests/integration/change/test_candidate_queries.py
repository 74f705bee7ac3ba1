"""The conflict check's reads stay cheap as the changes table grows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from flywheel.change import candidates
from flywheel.change.models import ChangeRequest
from flywheel.change.windows import Interval
from flywheel.db import Database, utcnow


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_service_query_walks_the_partial_index_of_active_changes(db: Database) -> None:
    """SQLite plans without statistics: the plan is fixed by the query's shape."""
    with db.session() as session:
        conn = session.connection()
        now = utcnow()
        params = {
            "change_id": 0,
            "span_end": now + timedelta(hours=1),
            "span_start": now,
            "opened_after": now - timedelta(hours=1),
            "service": "shop",
        }
        compiled = candidates._ON_SERVICE.compile(dialect=conn.dialect)
        expanded = compiled.construct_expanded_state(params)
        positional = tuple(expanded.parameters[name] for name in expanded.positiontup or [])
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {expanded.statement}", positional).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_changes_active_service" in details, details
    assert "TEMP B-TREE" not in details, details  # newest first from the index, no sort


def test_candidates_are_active_changes_newest_first(db: Database) -> None:
    """The literal state condition selects what the bound one did."""
    with db.session(write=True) as session:
        for number, state in enumerate(["scheduled", "closed", "implement", "new", "authorize"]):
            session.add(
                ChangeRequest(
                    type="normal",
                    state=state,
                    service="shop",
                    title=f"change {number}",
                    requested_by="dev",
                )
            )
        session.commit()
    with db.session() as session:
        ids = {c.title: c.id for c in session.scalars(select(ChangeRequest))}
        span = Interval.of(utcnow(), timedelta(hours=1))
        rows = candidates.candidates(session, 0, {"shop"}, span, timedelta(hours=1))
    assert [r.id for r in rows] == [ids["change 4"], ids["change 2"], ids["change 0"]]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_connections_prepare_no_statements(db: Database) -> None:
    """A generic plan made on a small table would outlive its growth until the next ANALYZE."""
    with db.session() as session:
        for _ in range(10):
            session.scalars(select(ChangeRequest).where(ChangeRequest.service == "shop")).all()
        prepared = session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
    assert prepared == 0
