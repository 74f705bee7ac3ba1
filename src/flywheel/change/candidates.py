"""The active changes a new change may conflict with: bounded queries, built once.

Each query walks an index newest first and stops at MAX_CONFLICTS, instead of sorting
every active change (by service: the partial index of active changes by service and id,
whose condition the query repeats word for word; PostgreSQL's index on service alone
gave the rows in no useful order, so a decision grew with the service's open changes).
The statements are built at import with bound parameters, so a decision only binds
values (building them was a fifth of conflict detection's cost).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Row,
    Select,
    String,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from flywheel.change import windows as window_rules
from flywheel.change.conflicts import PlannedChange
from flywheel.change.lifecycle import State
from flywheel.change.models import ACTIVE_CONDITION, ACTIVE_STATE_VALUES, ChangeCI, ChangeRequest

MAX_CONFLICTS = 20
PER_KEY_QUERIES_UP_TO = 8
ACTIVE_STATES = tuple(State(value) for value in ACTIVE_STATE_VALUES)
Group = tuple[frozenset[str], window_rules.Interval]  # related CI keys, and the time span


CI_SEPARATOR = " "  # CI keys hold no spaces (cmdb.vocabulary.CI_KEY_PATTERN)
_CIS_OF_CHANGE = (
    select(func.aggregate_strings(ChangeCI.ci_key, CI_SEPARATOR))
    .where(ChangeCI.change_id == ChangeRequest.id)
    .scalar_subquery()
    .label("cis")
)


def _active_near(span_start: Any, span_end: Any, opened_after: Any) -> Select[Any]:
    """Active changes (with their CIs) whose times can overlap a span (values or columns)."""
    return (
        select(
            ChangeRequest.id,
            ChangeRequest.service,
            ChangeRequest.planned_start,
            ChangeRequest.planned_end,
            ChangeRequest.created_at,
            _CIS_OF_CHANGE,
        )
        .where(
            text(f"changes.{ACTIVE_CONDITION}"),  # the partial index's own condition
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


def _touching(keys: ColumnElement[bool]) -> ColumnElement[bool]:
    """The change touches (as a CI, not as its service) a key the condition on ci_key names."""
    return ChangeRequest.id.in_(select(ChangeCI.change_id).where(keys).correlate_except(ChangeCI))


_ACTIVE_NEAR = _active_near(
    bindparam("span_start"), bindparam("span_end"), bindparam("opened_after")
).where(ChangeRequest.id != bindparam("change_id"))
_ON_SERVICE = _ACTIVE_NEAR.where(ChangeRequest.service == bindparam("service"))
_ON_SERVICES = _ACTIVE_NEAR.where(ChangeRequest.service.in_(bindparam("related", expanding=True)))
_TOUCHING = _ACTIVE_NEAR.where(_touching(ChangeCI.ci_key.in_(bindparam("related", expanding=True))))


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


_TIMES = ARRAY(DateTime(timezone=True))
# One row per (group, related key) of a batch's new changes.
_GROUP_KEYS = (
    func.unnest(
        bindparam("grps", type_=ARRAY(Integer)),
        bindparam("keys", type_=ARRAY(String)),
        bindparam("starts", type_=_TIMES),
        bindparam("ends", type_=_TIMES),
        bindparam("opened_after", type_=_TIMES),
    )
    .table_valued("grp", "key", "span_start", "span_end", "opened_after")
    .render_derived("g")
)
_NEAR_KEY = _active_near(
    _GROUP_KEYS.c.span_start, _GROUP_KEYS.c.span_end, _GROUP_KEYS.c.opened_after
)
# For each key: the newest active changes on it as their service and those touching it as a
# CI, what candidates() reads per key; the newest MAX_CONFLICTS of a group are its candidates.
_NEAR_EACH_KEY = union_all(
    _NEAR_KEY.where(ChangeRequest.service == _GROUP_KEYS.c.key),
    _NEAR_KEY.where(_touching(ChangeCI.ci_key == _GROUP_KEYS.c.key)),
).lateral("c")
_GROUPS_LATERAL = (
    select(_GROUP_KEYS.c.grp, _NEAR_EACH_KEY).select_from(_GROUP_KEYS).join(_NEAR_EACH_KEY, true())
)


def candidates_of_groups(
    session: Session, groups: Sequence[Group], unplanned_duration: timedelta
) -> list[list[PlannedChange]]:
    """candidates() of several groups of new changes, with their CIs, in one statement.

    PostgreSQL only (a LATERAL join over the groups' keys): under load a round trip to its
    server waited longer for the CPU than the query took, and a batch made two or more
    per group. SQLite is in process, where a round trip costs nothing.
    """
    grps, keys, starts, ends, opened_after = [], [], [], [], []
    for index, (related, span) in enumerate(groups):
        for key in sorted(related):
            grps.append(index)
            keys.append(key)
            starts.append(span.start)
            ends.append(span.end)
            opened_after.append(span.start - unplanned_duration)
    params = {"grps": grps, "keys": keys, "starts": starts, "ends": ends}
    rows = session.connection().execute(_GROUPS_LATERAL, params | {"opened_after": opened_after})
    found: list[dict[int, Row[Any]]] = [{} for _ in groups]
    for row in rows:
        found[row.grp][row.id] = row
    return [
        planned_changes([rows_[i] for i in sorted(rows_, reverse=True)[:MAX_CONFLICTS]])
        for rows_ in found
    ]


def planned_changes(rows: Sequence[Row[Any]]) -> list[PlannedChange]:
    """Candidate rows as planned changes, with the CIs each touches."""
    return [
        PlannedChange(
            r.id,
            frozenset({r.service, *(r.cis.split(CI_SEPARATOR) if r.cis else ())}),
            r.planned_start or r.created_at,
            r.planned_end,
        )
        for r in rows
    ]
