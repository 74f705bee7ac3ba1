"""Median and p90 of a (group, value) query: in PostgreSQL, or in numpy over narrow rows.

PostgreSQL computes them with ordered-set aggregates over GROUPING SETS (each group and
the total) and returns a row per group. SQLite has no percentile aggregates: its rows
(a group name and a number, nothing else) are fetched and numpy does the rest.
The definitions agree: percentile_cont(0.5) is the median (mean of the two middle values
for an even count), percentile_disc(0.9) the nearest-rank 90th percentile.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import Session

from flywheel.delivery.dora import Spread, spread

TOTAL = None


def _postgresql(session: Session, query: Select[Any]) -> dict[str | None, Spread]:
    rows = query.subquery("samples")
    group, value = rows.c[0], rows.c[1]
    summary = select(
        group,
        func.count(),
        func.percentile_cont(0.5).within_group(value),
        func.percentile_disc(0.9).within_group(value),
    ).group_by(func.grouping_sets(tuple_(group), tuple_()))
    found: dict[str | None, Spread] = {}
    for key, count, median, p90 in session.execute(summary):
        if count:  # the total of nothing is a row too
            found[key] = Spread(int(count), float(median), float(p90))
    return found


def _numpy(session: Session, query: Select[Any]) -> dict[str | None, Spread]:
    groups: dict[str, list[float]] = defaultdict(list)
    everything: list[float] = []
    for key, value in session.execute(query):
        groups[key].append(value)
        everything.append(value)
    found: dict[str | None, Spread] = {k: spread(v) for k, v in groups.items()}
    if everything:
        found[TOTAL] = spread(np.asarray(everything))
    return found


def spreads(session: Session, query: Select[Any]) -> dict[str | None, Spread]:
    """Spread per group of a (group, value) query, and of everything under the key None."""
    if session.get_bind().dialect.name == "postgresql":
        return _postgresql(session, query)
    return _numpy(session, query)
