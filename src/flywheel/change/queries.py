"""Read-only change queries other domains use: report selectables and text search."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, ScalarSelect, String, Subquery, cast, func, or_, select, union
from sqlalchemy.orm import QueryableAttribute, Session

from flywheel.change.lifecycle import FINAL_STATES, State
from flywheel.change.models import ChangeCommit, ChangeRequest, ChangeTransition
from flywheel.sql_time import epoch

# Selectables other domains join for set-based reports (delivery metrics, issue 9): they
# keep the change tables' layout here while letting a report run as one query.


def close_codes_query() -> Subquery:
    """(id, close_code, type, created_at) of every change."""
    return select(
        ChangeRequest.id, ChangeRequest.close_code, ChangeRequest.type, ChangeRequest.created_at
    ).subquery("change_outcomes")


def commit_times_query() -> Subquery:
    """(change_id, authored_at) of every commit that says when it was authored."""
    return (
        select(ChangeCommit.change_id, ChangeCommit.authored_at)
        .where(ChangeCommit.authored_at.is_not(None))
        .subquery("change_commit_times")
    )


ChangeIdColumn = ColumnElement[int | None] | QueryableAttribute[int | None]


def first_commit_at(change_id: ChangeIdColumn) -> ScalarSelect[datetime | None]:
    """When the change's earliest commit was authored (a correlated scalar subquery)."""
    return (
        select(func.min(ChangeCommit.authored_at))
        .where(ChangeCommit.change_id == change_id)
        .scalar_subquery()
    )


def approved_at(change_id: ChangeIdColumn) -> ScalarSelect[datetime]:
    """When the change was first scheduled, i.e. approved (a correlated scalar subquery)."""
    return (
        select(func.min(ChangeTransition.at))
        .where(
            ChangeTransition.change_id == change_id,
            ChangeTransition.to_state == State.SCHEDULED.value,
        )
        .scalar_subquery()
    )


_OPEN_STATES = tuple(s.value for s in State if s not in FINAL_STATES)


def pipeline_changes(
    session: Session, *, since: datetime, until: datetime, services: list[str] | None
) -> list[tuple[int, str, float, str, float]]:
    """Changes that were in flight at some point of [since, until).

    (id, service, opened, state, last updated) with times in Unix seconds: changes opened in
    the period, and older ones still open or updated since it began.
    """
    columns = (
        ChangeRequest.id,
        ChangeRequest.service,
        epoch(ChangeRequest.created_at),
        ChangeRequest.state,
        epoch(ChangeRequest.updated_at),
    )
    older = ChangeRequest.created_at < since
    # Three index-friendly parts instead of one OR: opened in the period; older and still
    # open; older and touched since the period began.
    parts = [
        select(*columns).where(ChangeRequest.created_at >= since, ChangeRequest.created_at < until),
        select(*columns).where(older, ChangeRequest.state.in_(_OPEN_STATES)),
        select(*columns).where(older, ChangeRequest.updated_at >= since),
    ]
    if services is not None:
        parts = [p.where(ChangeRequest.service.in_(services)) for p in parts]
    query = union(*parts)
    return [tuple(r) for r in session.execute(query)]  # type: ignore[misc]


def changes_mentioning(session: Session, *, words: list[str]) -> list[tuple[ChangeRequest, str]]:
    """(change, where) of changes naming any of `words` in title, description, links or a commit."""
    if not words:
        return []
    text_columns = {
        "title": ChangeRequest.title,
        "description": ChangeRequest.description,
        "links": cast(ChangeRequest.links, String),
    }
    found: dict[int, tuple[ChangeRequest, str]] = {}
    for where, column in text_columns.items():
        query = select(ChangeRequest).where(or_(*(column.contains(w) for w in words)))
        for change in session.scalars(query):
            found.setdefault(change.id, (change, where))
    in_commits = select(ChangeCommit.change_id).where(
        or_(*(ChangeCommit.message.contains(w) for w in words))
    )
    query = select(ChangeRequest).where(ChangeRequest.id.in_(in_commits))
    for change in session.scalars(query):
        found.setdefault(change.id, (change, "commit message"))
    return [found[k] for k in sorted(found)]
