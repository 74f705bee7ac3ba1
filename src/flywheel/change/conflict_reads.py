"""Conflicts of a change with others: candidates read through the CMDB's dependencies.

Only candidates that can conflict are read (related CIs, overlapping times, at most
MAX_CONFLICTS); a batch reads those of all its changes at once (`prefetch_candidates`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from flywheel.batch_reads import remember, sharing
from flywheel.change import candidates as candidate_queries
from flywheel.change import conflicts as conflict_rules
from flywheel.change import windows as window_rules
from flywheel.change.batch_memo import batch_now, known_cis, planned_in_batch
from flywheel.change.candidates import MAX_CONFLICTS, candidates, planned_changes
from flywheel.change.models import ChangeRequest
from flywheel.change.schemas import ChangeCreate
from flywheel.cmdb import service as cmdb

DEFAULT_DURATION = timedelta(hours=1)


def interval_of(change: ChangeRequest, now: datetime) -> window_rules.Interval:
    """The change's planned interval (now + default duration when unplanned).

    An end without a start that is already past (it passed while the request waited)
    spans the default duration before that end, as stored changes do (PlannedChange).
    """
    start = change.planned_start or now
    end = change.planned_end or start + DEFAULT_DURATION
    if change.planned_start is None and end <= start:
        start = end - DEFAULT_DURATION
    return window_rules.Interval(start, end)


class CmdbDependencies:
    """Conflict detection's view of the CMDB, remembered for one assessment.

    The graph index is caught up once, at the first lookup; every lookup after that reads
    the in-memory index only.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._synced = False
        self._up: dict[str, set[str]] = {}
        self._down: dict[str, set[str]] = {}

    def sync(self) -> None:
        """Catch the CMDB graph index up with committed changes, once."""
        if not self._synced:
            cmdb.warm_index(self.session)
            self._synced = True

    def depends_on(self, ci: str) -> set[str]:
        if ci not in self._up:
            self.sync()
            found = cmdb.dependencies(self.session, key=ci, sync=False).dependencies
            self._up[ci] = {d.key for d in found}
        return self._up[ci]

    def dependents_of(self, ci: str) -> set[str]:
        if ci not in self._down:
            self.sync()
            self._down[ci] = cmdb.dependents(self.session, key=ci, sync=False)
        return self._down[ci]


def dependencies_of(session: Session) -> CmdbDependencies:
    """The CMDB view of this assessment, or of the whole batch it belongs to."""
    return remember(session, "change.cmdb", lambda: CmdbDependencies(session))


def related_keys(deps: CmdbDependencies, mine: frozenset[str]) -> set[str]:
    """The CIs a change on `mine` can conflict through: those, and what they need or serve."""
    related = set(mine)
    for key in mine:
        related |= deps.depends_on(key) | deps.dependents_of(key)
    return related


def find_conflicts(
    session: Session, change: ChangeRequest, deps: CmdbDependencies | None = None
) -> list[conflict_rules.Conflict]:
    """Other active changes near in time on the same CIs, or on CIs related through the CMDB.

    Only candidates that can conflict are loaded (related CIs, overlapping times), newest
    first and at most MAX_CONFLICTS, so the check does not grow with every open change. An
    unplanned change occupies the hour after it was opened. In a batch, the stored
    candidates are read once per group of alike changes, and the batch's earlier changes
    join them.
    """
    now = batch_now(session)
    mine = frozenset([change.service, *change.ci_keys])
    deps = deps or dependencies_of(session)
    related = related_keys(deps, mine)
    span = interval_of(change, now)
    key = _candidates_key(frozenset(related), span)
    stored = remember(session, key, lambda: _stored_candidates(session, change.id, related, span))
    mine_too = [p for p in planned_in_batch(session) if p.cis & related and p.id != change.id]
    planned = sorted([*stored, *mine_too], key=lambda p: int(p.id), reverse=True)
    checked = conflict_rules.PlannedChange(
        change.id, mine, change.planned_start, change.planned_end
    )
    return conflict_rules.find_conflicts(
        checked,
        planned[:MAX_CONFLICTS],
        now=now,
        dependencies=deps,
        default_duration=DEFAULT_DURATION,
    )


def _stored_candidates(
    session: Session, change_id: int | None, related: set[str], span: window_rules.Interval
) -> list[conflict_rules.PlannedChange]:
    rows = candidates(session, change_id or 0, related, span, DEFAULT_DURATION)
    return planned_changes(rows)


def prefetch_candidates(session: Session, requests: Iterable[ChangeCreate]) -> None:
    """In a batch, the stored conflict candidates of all its new changes, read at once.

    Kept where find_conflicts looks for them (per group of related CIs and time span). A
    request naming an unknown CI, or with times that make no interval, is left to find its
    own error when it is checked.
    """
    memo = sharing(session)
    known = known_cis(session)
    if memo is None or known is None or session.get_bind().dialect.name != "postgresql":
        return
    now, deps = batch_now(session), dependencies_of(session)
    groups: dict[tuple[Any, ...], candidate_queries.Group] = {}
    for data in requests:
        mine = frozenset([data.service, *data.cis])
        if not mine <= known.keys():
            continue
        start = data.planned_start or now
        try:
            span = window_rules.Interval(start, data.planned_end or start + DEFAULT_DURATION)
        except ValueError:
            continue
        related = frozenset(related_keys(deps, mine))
        groups[_candidates_key(related, span)] = (related, span)
    if not groups:
        return
    found = candidate_queries.candidates_of_groups(session, list(groups.values()), DEFAULT_DURATION)
    for key, planned in zip(groups, found, strict=True):
        memo[key] = planned


def _candidates_key(related: frozenset[str], span: window_rules.Interval) -> tuple[Any, ...]:
    return ("change.candidates", related, span.start, span.end)
