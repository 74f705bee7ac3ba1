"""Time-to-delivery phases, breakdowns and the weekly flow, by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from flywheel.delivery.ttd import (
    InFlight,
    Journeys,
    breakdown,
    by_week,
    flow,
    groups,
    week_start,
    weeks,
)

H = 3600.0
DAY = 24 * H
T = datetime(2026, 3, 4, 12, tzinfo=UTC).timestamp()  # a Wednesday
BASE = {
    "committed": T - 10 * H,
    "opened": T - 8 * H,
    "approved": T - 6 * H,
    "started": T - 2 * H,
    "rolled_out": T - 1.5 * H,
    "verified": T - 1 * H,
    "finished": T - 0.9 * H,
}
ORDER = ("committed", "opened", "approved", "started", "rolled_out", "verified", "finished")


def journeys(*changes: dict[str, float | None], service: str = "svc") -> Journeys:
    """Journeys from milestone overrides of BASE."""
    rows = [
        (i, service, *({**BASE, **fields}[name] for name in ORDER))
        for i, fields in enumerate(changes, start=1)
    ]
    return Journeys.of(rows)


@pytest.mark.parametrize(
    ("fields", "hours"),
    [
        ({}, {"development": 2, "approval": 2, "queue": 4, "rollout": 0.5, "verification": 0.5}),
        # No commit time: development unknown, not zero.
        (
            {"committed": None},
            {"development": None, "approval": 2, "queue": 4, "rollout": 0.5, "verification": 0.5},
        ),
        # Commit amended after the change was opened: no negative development time.
        (
            {"committed": T - 7 * H},
            {"development": 0, "approval": 2, "queue": 4, "rollout": 0.5, "verification": 0.5},
        ),
        # No steps recorded: the whole run is rollout, ending when it finished.
        (
            {"rolled_out": None, "verified": None},
            {"development": 2, "approval": 2, "queue": 4, "rollout": 1.1, "verification": 0},
        ),
        # Never passed through 'scheduled' (recorded outside the lifecycle): no approval wait.
        (
            {"approved": None},
            {"development": 2, "approval": 0, "queue": 6, "rollout": 0.5, "verification": 0.5},
        ),
    ],
)
def test_phases(fields: dict[str, float | None], hours: dict[str, float | None]) -> None:
    got = journeys(fields).phases()
    seen = {k: float(v[0]) for k, v in got.items()}
    assert {k: None if math.isnan(v) else round(v / H, 6) for k, v in seen.items()} == hours


def test_breakdown_shares_add_up_to_the_time_spent() -> None:
    found = breakdown(journeys({}, {"committed": None, "approved": T - 7 * H}))
    assert found.changes == 2
    dev, approval = found.phases["development"], found.phases["approval"]
    assert (dev.count, dev.median_s) == (1, 2 * H)
    assert approval.median_s == pytest.approx(1.5 * H)
    # Totals: 9 h and 7 h (no development); development's share is 2 of 16 hours.
    assert found.total.median_s == pytest.approx(8 * H)
    assert found.total.p90_s == pytest.approx(9 * H)
    assert dev.share == pytest.approx(2 / 16)
    assert sum(p.share or 0 for p in found.phases.values()) == pytest.approx(1.0)
    empty = breakdown(journeys())
    assert empty.changes == 0 and empty.total.median_s is None


def test_groups_and_weeks() -> None:
    assert datetime.fromtimestamp(week_start(T), UTC) == datetime(2026, 3, 2, tzinfo=UTC)
    starts = weeks(T, T + 14 * DAY)
    assert len(starts) == 3 and starts[0] == week_start(T)
    found = groups(np.array(["b", "a", "b", "c", "a"]))
    assert {k: v.tolist() for k, v in found.items()} == {"a": [1, 4], "b": [0, 2], "c": [3]}
    late = {**{k: v + 7 * DAY for k, v in BASE.items() if v is not None}}
    weekly = by_week(journeys({}, late, {}), week_start(T), week_start(T) + 14 * DAY)
    assert [len(j) for _, j in weekly] == [2, 1]


def test_flow_counts_opened_delivered_dropped_and_the_queue() -> None:
    since, until = week_start(T), week_start(T) + 14 * DAY
    nan = math.nan
    changes = [
        (since + 1 * DAY, since + 2 * DAY, nan),  # opened and delivered in week 1
        (since + 3 * DAY, since + 9 * DAY, since + 10 * DAY),  # delivered in week 2
        (since + 4 * DAY, nan, since + 5 * DAY),  # rejected in week 1
        (since + 8 * DAY, nan, nan),  # still waiting
        (since - 20 * DAY, nan, nan),  # carried in, still waiting
        (since - 2 * DAY, since + 1 * DAY, nan),  # carried in, delivered in week 1
    ]
    opened, delivered, ended = (np.array(c) for c in zip(*changes, strict=True))
    rows = flow(InFlight(opened, delivered, ended), since, until)
    table = [(r.opened, r.delivered, r.ended_undelivered, r.queue_at_end) for r in rows]
    # Week 1 ends with: the change delivered in week 2, and the carried-in one: 2 waiting.
    assert table == [(3, 2, 1, 2), (1, 1, 0, 2)]
