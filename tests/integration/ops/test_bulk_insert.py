"""Many rows in one statement: the same rows come back on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, select

from flywheel.bulk_insert import insert_rows
from flywheel.change import service as change_service
from flywheel.change.models import ChangeTransition
from flywheel.change.schemas import ChangeCreate
from flywheel.db import Database
from tests.factories import SYSTEM, make_ci

AT = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
AWKWARD = 'it\'s "quoted", {braced}, back\\slashed'


def test_rows_with_nulls_quotes_and_times_come_back_as_given(db: Database) -> None:
    with db.session(write=True) as session:
        make_ci(session, "svc", "business_service")
        data = ChangeCreate.model_validate({"service": "svc", "title": "t"})
        change, _ = change_service.open_change(session, actor=SYSTEM, data=data)
        session.commit()
        change_id = change.id
    common = {"change_id": change_id, "actor": "bulk"}
    rows = [
        {**common, "from_state": None, "to_state": "x", "at": AT, "reason": None},
        {**common, "from_state": "x", "to_state": "y", "at": AT + timedelta(1), "reason": AWKWARD},
        {**common, "from_state": "y", "to_state": "z", "at": AT + timedelta(2), "reason": ""},
    ]
    table = cast(Table, ChangeTransition.__table__)
    with db.session(write=True) as session:
        insert_rows(session.connection(), table, rows)
        session.commit()
    query = (
        select(table.c.from_state, table.c.to_state, table.c.at, table.c.reason)
        .where(table.c.actor == "bulk")
        .order_by(table.c.id)
    )
    with db.session() as session:
        stored = [tuple(r) for r in session.execute(query)]
    assert stored == [
        (None, "x", AT, None),
        ("x", "y", AT + timedelta(1), AWKWARD),
        ("y", "z", AT + timedelta(2), ""),
    ]
