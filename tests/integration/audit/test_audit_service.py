"""The audit log on a real database: chained appends, verification, tamper detection."""

from __future__ import annotations

from itertools import pairwise

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.audit.models import AuditEvent
from flywheel.auth.schemas import TeamUpdate
from flywheel.auth.service import update_team
from flywheel.db import Database
from tests.factories import SYSTEM, make_team, make_user
from tests.integration.tamper import tamper


def seed(db: Database, teams: int = 3) -> None:
    with db.session(write=True) as session:
        make_user(session, username="alice")
        for i in range(teams):
            make_team(session, key=f"team-{i}", members=["alice"])
        session.commit()


def test_events_are_chained_in_order(db: Database) -> None:
    seed(db)
    with db.session() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [e.action for e in events] == ["user.create"] + ["team.create"] * 3
    assert all(b.prev_hash == a.hash for a, b in pairwise(events))
    with db.session() as session:
        assert audit.verify_chain(session).intact


def test_a_state_change_and_its_event_commit_together(db: Database) -> None:
    with db.session(write=True) as session:
        make_team(session, key="payments")
        session.rollback()
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0
        assert audit.verify_chain(session).intact


def test_update_records_before_and_after(db: Database, session: Session) -> None:
    team = make_team(session, key="payments")
    update_team(
        session, actor=SYSTEM, key="payments", data=TeamUpdate(version=team.version, name="Pay")
    )
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "team.update")).one()
    assert event.before is not None and event.after is not None
    assert (event.before["name"], event.after["name"]) == ("Payments", "Pay")
    assert event.actor == SYSTEM.name


def test_audit_rows_cannot_be_updated_or_deleted(db: Database) -> None:
    seed(db, teams=1)
    for sql in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(sql))


def test_an_edited_row_is_named(db: Database) -> None:
    seed(db)
    tamper(db, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    with db.session() as session:
        report = audit.verify_chain(session)
    assert report.first_break is not None
    assert report.first_break.seq == 3
    assert "edited" in report.first_break.problem


def test_a_deleted_row_is_detected(db: Database) -> None:
    seed(db)
    tamper(db, "DELETE FROM audit_events WHERE seq = 2")
    with db.session() as session:
        report = audit.verify_chain(session)
    assert report.first_break is not None and report.first_break.seq == 3


def test_truncating_the_tail_is_detected(db: Database) -> None:
    seed(db)
    tamper(db, "DELETE FROM audit_events WHERE seq = 4")
    with db.session() as session:
        report = audit.verify_chain(session)
    assert report.first_break is not None
    assert "deleted from the end" in report.first_break.problem


def test_reordered_rows_are_detected(db: Database) -> None:
    seed(db)
    tamper(db, "UPDATE audit_events SET seq = -seq WHERE seq IN (2, 3)")
    tamper(db, "UPDATE audit_events SET seq = 3 WHERE seq = -2")
    tamper(db, "UPDATE audit_events SET seq = 2 WHERE seq = -3")
    with db.session() as session:
        report = audit.verify_chain(session)
    assert report.first_break is not None and report.first_break.seq == 2


def test_filters_and_paging(db: Database) -> None:
    seed(db, teams=5)
    with db.session() as session:
        flt = audit.AuditFilter(action="team.create")
        first = audit.list_events(session, flt=flt, limit=2)
        rest = audit.list_events(session, flt=flt, after_seq=first[-1].seq, limit=10)
        by_object = audit.list_events(
            session, flt=audit.AuditFilter(object_type="team", object_id="team-4")
        )
    assert [e.object_id for e in first + rest] == [f"team-{i}" for i in range(5)]
    assert [e.object_id for e in by_object] == ["team-4"]
