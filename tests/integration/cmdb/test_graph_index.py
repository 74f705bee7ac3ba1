"""The in-memory graph index follows the change feed and notices a replaced database."""

from __future__ import annotations

from sqlalchemy import text

from flywheel.cmdb import service
from flywheel.cmdb.index import GraphIndex
from flywheel.db import Database
from tests.factories import make_ci, make_estate, relate


def test_index_applies_only_new_changes(db: Database) -> None:
    with db.session(write=True) as session:
        make_estate(session)
        session.commit()
    idx = GraphIndex()
    with db.session() as session:
        idx.sync(session)
        loaded_graph, seen = idx.graph, idx.seq
        assert idx.graph.id_of("checkout") is not None
    with db.session(write=True) as session:
        make_ci(session, "cart", "business_service")
        relate(session, "cart", "depends_on", "db1")
        session.commit()
    with db.session() as session:
        idx.sync(session)
    assert idx.graph is loaded_graph, "a small change must be applied, not reloaded"
    assert idx.seq > seen
    impact = idx.graph.impact([idx.graph.id_of("db1") or -1])
    assert "cart" in [s.key for s in impact.business_services]


def test_index_reloads_when_the_history_it_saw_is_gone(db: Database) -> None:
    with db.session(write=True) as session:
        make_ci(session, "old", "business_service")
        session.commit()
    idx = GraphIndex()
    with db.session() as session:
        idx.sync(session)
    assert idx.graph.id_of("old") is not None
    tables = "ci_relationships, cis, cmdb_changes, audit_events"
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text(f"TRUNCATE {tables}"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
            for table in tables.split(", "):
                conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE audit_chain_head SET seq = 0, hash = :h"), {"h": "0" * 64})
    with db.session(write=True) as session:
        make_ci(session, "new", "business_service")
        session.commit()
    with db.session() as session:
        idx.sync(session)
        assert service.warm_index(session) >= 1
    assert idx.graph.id_of("old") is None
    assert idx.graph.id_of("new") is not None
