"""Time-to-delivery phases, breakdowns and the weekly flow, by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flywheel.delivery.ttd import InFlight, Journey, breakdown, flow, week_start, weeks

H = 3600.0
T = datetime(2026, 3, 4, 12, tzinfo=UTC).timestamp()  # a Wednesday


def journey(**fields: float | None) -> Journey:
    """A journey ending around T."""
    base: dict[str, float | None] = {
        "committed": T - 10 * H,
        "opened": T - 8 * H,
        "approved": T - 6 * H,
        "started": T - 2 * H,
        "rolled_out": T - 1.5 * H,
        "verified": T - 1 * H,
        "finished": T - 0.9 * H,
    }
    base.update(fields)
    return Journey(1, "svc", **base)  # type: ignore[arg-type]


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
    got = journey(**fields).phases()
    assert {k: None if v is None else round(v / H, 6) for k, v in got.items()} == hours


def test_breakdown_shares_add_up_to_the_time_spent() -> None:
    found = breakdown([journey(), journey(committed=None, approved=T - 7 * H, started=T - 2 * H)])
    assert found.changes == 2
    dev, approval = found.phases["development"], found.phases["approval"]
    assert (dev.count, dev.median_s) == (1, 2 * H)
    assert approval.median_s == pytest.approx(1.5 * H)
    # Totals: 9 h and 7 h (no development); development's share is 2 of 16 hours.
    assert found.total.median_s == pytest.approx(8 * H)
    assert dev.share == pytest.approx(2 / 16)
    assert sum(p.share or 0 for p in found.phases.values()) == pytest.approx(1.0)
    empty = breakdown([])
    assert empty.changes == 0 and empty.total.median_s is None


def test_weeks_start_on_monday_utc() -> None:
    assert datetime.fromtimestamp(week_start(T), UTC) == datetime(2026, 3, 2, tzinfo=UTC)
    starts = weeks(T, T + 14 * 24 * H)
    assert len(starts) == 3 and starts[0] == week_start(T)


def test_flow_counts_opened_delivered_dropped_and_the_queue() -> None:
    since, until = week_start(T), week_start(T) + 14 * 24 * H
    day = 24 * H
    changes = [
        InFlight(since + 1 * day, since + 2 * day, None),  # opened and delivered in week 1
        InFlight(since + 3 * day, since + 9 * day, since + 10 * day),  # delivered in week 2
        InFlight(since + 4 * day, None, since + 5 * day),  # rejected in week 1
        InFlight(since + 8 * day, None, None),  # still waiting
        InFlight(since - 20 * day, None, None),  # carried in, still waiting
        InFlight(since - 2 * day, since + 1 * day, None),  # carried in, delivered in week 1
    ]
    rows = flow(changes, since, until)
    table = [(r.opened, r.delivered, r.ended_undelivered, r.queue_at_end) for r in rows]
    # Week 1 ends with: the change delivered in week 2, and the carried-in one: 2 waiting.
    assert table == [(3, 2, 1, 2), (1, 1, 0, 2)]
