"""MTTA and MTTR tallies, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flywheel.incident.metrics import Times, tally

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_means_per_service_and_priority_skip_what_did_not_happen() -> None:
    rows = [
        Times("shop", 1, T0, T0 + timedelta(minutes=2), T0 + timedelta(hours=1)),
        Times("shop", 1, T0, T0 + timedelta(minutes=4), T0 + timedelta(hours=3)),
        Times("shop", 3, T0, None, None),
        Times("blog", 2, T0, None, T0 + timedelta(minutes=30)),
    ]
    overall, groups = tally(rows)
    shown = {(g.service, g.priority): (g.incidents, g.mtta_seconds, g.mttr_seconds) for g in groups}
    assert shown == {
        ("blog", "P2"): (1, None, 1800.0),
        ("shop", "P1"): (2, 180.0, 7200.0),
        ("shop", "P3"): (1, None, None),
    }
    assert (overall.incidents, overall.mtta_seconds) == (4, 180.0)
    assert overall.mttr_seconds == round((3600 + 10800 + 1800) / 3, 1)
