"""The active changes a new change may conflict with: bounded queries, built once.

Each query walks an index newest first and stops at MAX_CONFLICTS, instead of sorting
every active change (by service: the partial index of active changes by service and id,
whose condition the query repeats word for word; PostgreSQL's index on service alone
gave the rows in no useful order, so a decision grew with the service's open changes).
The statements are built at import with bound parameters, so a
decision only binds values (building them was a fifth of conflict detection's cost).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Row, and_, bindparam, or_, select, text
from sqlalchemy.orm import Session

from flywheel.change import windows as window_rules
from flywheel.change.lifecycle import State
from flywheel.change.models import ACTIVE_CONDITION, ACTIVE_STATE_VALUES, ChangeCI, ChangeRequest

MAX_CONFLICTS = 20
PER_KEY_QUERIES_UP_TO = 8
ACTIVE_STATES = tuple(State(value) for value in ACTIVE_STATE_VALUES)

_ACTIVE_NEAR = (
    select(
        ChangeRequest.id,
        ChangeRequest.service,
        ChangeRequest.planned_start,
        ChangeRequest.planned_end,
        ChangeRequest.created_at,
    )
    .where(
        text(f"changes.{ACTIVE_CONDITION}"),  # the partial index's own condition
        ChangeRequest.id != bindparam("change_id"),
        or_(
            ChangeRequest.planned_start < bindparam("span_end"),
            and_(
                ChangeRequest.planned_start.is_(None),
                ChangeRequest.created_at > bindparam("opened_after"),
            ),
        ),
        or_(
            ChangeRequest.planned_end.is_(None), ChangeRequest.planned_end > bindparam("span_start")
        ),
    )
    .order_by(ChangeRequest.id.desc())
    .limit(MAX_CONFLICTS)
)
_ON_SERVICE = _ACTIVE_NEAR.where(ChangeRequest.service == bindparam("service"))
_ON_SERVICES = _ACTIVE_NEAR.where(ChangeRequest.service.in_(bindparam("related", expanding=True)))
_TOUCHING = _ACTIVE_NEAR.where(
    ChangeRequest.id.in_(
        select(ChangeCI.change_id).where(ChangeCI.ci_key.in_(bindparam("related", expanding=True)))
    )
)


def candidates(
    session: Session,
    change_id: int,
    related: set[str],
    span: window_rules.Interval,
    unplanned_duration: timedelta,
) -> list[Row[Any]]:
    """The newest MAX_CONFLICTS active changes on related CIs whose times can overlap span.

    One query per related service key (few) and one for CIs touched, merged here. An
    unplanned change counts as occupying `unplanned_duration` after it was opened.
    """
    params: dict[str, Any] = {
        "change_id": change_id,
        "span_end": span.end,
        "span_start": span.start,
        "opened_after": span.start - unplanned_duration,
        "related": sorted(related),
    }
    if len(related) <= PER_KEY_QUERIES_UP_TO:
        queries = [(_ON_SERVICE, {"service": key}) for key in sorted(related)]
    else:
        queries = [(_ON_SERVICES, {})]
    found: dict[int, Any] = {}
    conn = session.connection()  # Core: the ORM's per-statement work buys nothing here
    for query, extra in [*queries, (_TOUCHING, {})]:
        for row in conn.execute(query, params | extra):
            found[int(row.id)] = row
    return [found[i] for i in sorted(found, reverse=True)[:MAX_CONFLICTS]]
