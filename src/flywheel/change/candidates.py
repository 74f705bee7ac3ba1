"""The active changes a new change may conflict with: bounded queries, built once.

Each query walks an index newest first and stops at MAX_CONFLICTS, instead of sorting
every active change (by service: the partial index of active changes by service and id,
whose condition the query repeats word for word; PostgreSQL's index on service alone
gave the rows in no useful order, so a decision grew with the service's open changes).
The statements are built at import with bound parameters, so a
decision only binds values (building them was a fifth of conflict detection's cost).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from flywheel.change import windows as window_rules
from flywheel.change.conflicts import PlannedChange
from flywheel.change.lifecycle import State
from flywheel.change.models import ACTIVE_CONDITION, ACTIVE_STATE_VALUES, ChangeCI, ChangeRequest

MAX_CONFLICTS = 20
PER_KEY_QUERIES_UP_TO = 8
ACTIVE_STATES = tuple(State(value) for value in ACTIVE_STATE_VALUES)
PARTS_PER_STATEMENT = 100  # SQLite allows at most 500 SELECTs in one compound statement
Group = tuple[frozenset[str], window_rules.Interval]  # related CI keys, and the time span


def _active_near(
    change_id: Any, span_start: Any, span_end: Any, opened_after: Any
) -> Select[int, str, datetime | None, datetime | None, datetime]:
    """Active changes whose times can overlap the span, newest first (MAX_CONFLICTS)."""
    return (
        select(
            ChangeRequest.id,
            ChangeRequest.service,
            ChangeRequest.planned_start,
            ChangeRequest.planned_end,
            ChangeRequest.created_at,
        )
        .where(
            text(f"changes.{ACTIVE_CONDITION}"),  # the partial index's own condition
            ChangeRequest.id != change_id,
            or_(
                ChangeRequest.planned_start < span_end,
                and_(
                    ChangeRequest.planned_start.is_(None), ChangeRequest.created_at > opened_after
                ),
            ),
            or_(ChangeRequest.planned_end.is_(None), ChangeRequest.planned_end > span_start),
        )
        .order_by(ChangeRequest.id.desc())
        .limit(MAX_CONFLICTS)
    )


def _touching(keys: Any) -> ColumnElement[bool]:
    return ChangeRequest.id.in_(select(ChangeCI.change_id).where(ChangeCI.ci_key.in_(keys)))


_ACTIVE_NEAR = _active_near(
    bindparam("change_id"),
    bindparam("span_start"),
    bindparam("span_end"),
    bindparam("opened_after"),
)
_ON_SERVICE = _ACTIVE_NEAR.where(ChangeRequest.service == bindparam("service"))
_ON_SERVICES = _ACTIVE_NEAR.where(ChangeRequest.service.in_(bindparam("related", expanding=True)))
_TOUCHING = _ACTIVE_NEAR.where(_touching(bindparam("related", expanding=True)))


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


def candidates_of_groups(
    session: Session, groups: Sequence[Group], unplanned_duration: timedelta
) -> list[list[Row[Any]]]:
    """candidates() of several groups (for a new change: no id to leave out) at once.

    The same queries as one statement (a UNION ALL of them, each part tagged with its group)
    instead of several round trips per group: under load a round trip to PostgreSQL costs
    more in waiting for its turn on the CPU than the query does.
    """
    parts = [
        select(literal(index).label("grp"), *part.c).select_from(part)
        for index, (related, span) in enumerate(groups)
        for part in _group_parts(related, span, unplanned_duration)
    ]
    found: list[dict[int, Any]] = [{} for _ in groups]
    conn = session.connection()
    for first in range(0, len(parts), PARTS_PER_STATEMENT):
        for row in conn.execute(union_all(*parts[first : first + PARTS_PER_STATEMENT])):
            found[row.grp][int(row.id)] = row
    return [[rows[i] for i in sorted(rows, reverse=True)[:MAX_CONFLICTS]] for rows in found]


def _group_parts(
    related: frozenset[str], span: window_rules.Interval, unplanned_duration: timedelta
) -> list[Any]:
    near = _active_near(0, span.start, span.end, span.start - unplanned_duration)
    keys = sorted(related)
    if len(keys) <= PER_KEY_QUERIES_UP_TO:
        on_services = [near.where(ChangeRequest.service == key) for key in keys]
    else:
        on_services = [near.where(ChangeRequest.service.in_(keys))]
    return [q.subquery() for q in [*on_services, near.where(_touching(keys))]]


def planned_changes(
    session: Session, groups: Sequence[Sequence[Row[Any]]]
) -> list[list[PlannedChange]]:
    """The candidate rows of each group as planned changes, with the CIs each touches."""
    keys: dict[int, set[str]] = {int(r.id): set() for rows in groups for r in rows}
    if keys:
        touched = select(ChangeCI.change_id, ChangeCI.ci_key).where(ChangeCI.change_id.in_(keys))
        for change_id, key in session.connection().execute(touched):
            keys[change_id].add(key)
    return [
        [
            PlannedChange(
                r.id,
                frozenset({r.service, *keys[int(r.id)]}),
                r.planned_start or r.created_at,
                r.planned_end,
            )
            for r in rows
        ]
        for rows in groups
    ]
