"""Counting events and time slices inside windows, and compliance periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flywheel.slo.budget import BudgetError, Counts
from flywheel.slo.slices import (
    Event,
    Interval,
    event_counts,
    events_as_slices,
    slice_counts,
    slice_seconds_total,
)
from flywheel.slo.windows import (
    WindowKind,
    compliance_period,
    format_window,
    month_of,
    parse_window,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
M = timedelta(minutes=1)
HOUR = Interval(T0, T0 + timedelta(hours=1))


def at(minutes: float) -> datetime:
    """T0 plus some minutes."""
    return T0 + minutes * M


@pytest.mark.parametrize(
    ("bad", "covered", "expected"),
    [
        ([], [HOUR], Counts(60, 60)),
        # 10:30 → 12:10 touches minutes 10, 11 and 12.
        ([Interval(at(10.5), at(12 + 1 / 6))], [HOUR], Counts(57, 60)),
        # Exactly one minute on the boundaries: one bad slice.
        ([Interval(at(5), at(6))], [HOUR], Counts(59, 60)),
        # Overlapping downtimes are not counted twice.
        ([Interval(at(5), at(8)), Interval(at(6), at(9))], [HOUR], Counts(56, 60)),
        # Downtime before the window, or outside coverage, does not count.
        ([Interval(at(-30), at(-1))], [HOUR], Counts(60, 60)),
        ([Interval(at(10), at(20))], [Interval(at(30), at(90))], Counts(30, 30)),
        # Downtime running past the window counts only inside it.
        ([Interval(at(50), at(200))], [Interval(at(-100), at(300))], Counts(50, 60)),
        # A zero-length downtime is nothing.
        ([Interval(at(7), at(7))], [HOUR], Counts(60, 60)),
        # No coverage: no data, not 100 %.
        ([], [], Counts(0, 0)),
    ],
)
def test_time_slices(bad: list[Interval], covered: list[Interval], expected: Counts) -> None:
    assert slice_counts(HOUR, bad=bad, covered=covered, seconds=60) == expected


def test_thirty_days_of_minutes_is_43200_slices_wherever_the_window_starts() -> None:
    for offset in (0, 17, 59.5):
        start = T0 + timedelta(seconds=offset)
        window = Interval(start, start + timedelta(days=30))
        assert slice_seconds_total(window, 60) == 43_200


def test_a_slice_must_have_a_length() -> None:
    with pytest.raises(BudgetError, match="longer than zero"):
        slice_counts(HOUR, bad=[], covered=[HOUR], seconds=0)


def test_event_counts_add_up_inside_the_window_only() -> None:
    events = [
        Event(at(-1), 5, 10),
        Event(at(0), 98, 100),
        Event(at(59), 40, 50),
        Event(at(60), 1, 1000),
    ]
    assert event_counts(events, HOUR) == Counts(138, 150)
    assert event_counts([], HOUR) == Counts(0, 0)


def test_events_as_slices_a_bad_event_spoils_its_minute() -> None:
    events = [
        Event(at(1.2), 10, 10),
        Event(at(1.8), 9, 10),
        Event(at(3.5), 10, 10),
        Event(at(4.1), 0, 0),
    ]
    assert events_as_slices(events, HOUR, seconds=60) == Counts(1, 2)


def test_rolling_and_calendar_month_periods() -> None:
    now = datetime(2026, 2, 10, 12, tzinfo=UTC)
    rolling = compliance_period(WindowKind.ROLLING, 28, now)
    assert rolling.elapsed == rolling.whole == Interval(now - timedelta(days=28), now)
    month = compliance_period(WindowKind.CALENDAR_MONTH, None, now)
    assert month.elapsed == Interval(datetime(2026, 2, 1, tzinfo=UTC), now)
    assert month.length == timedelta(days=28)
    assert month_of(datetime(2026, 12, 31, 23, tzinfo=UTC)).end == datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(BudgetError, match="above zero"):
        compliance_period(WindowKind.ROLLING, 0, now)


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("1h", 3600), ("3d", 259_200), ("1h30m", 5400)]
)
def test_parse_window(text: str, seconds: int) -> None:
    assert parse_window(text).total_seconds() == seconds
    assert parse_window(format_window(parse_window(text))) == parse_window(text)


@pytest.mark.parametrize("text", ["", "0m", "5", "1x", "-1h", "1h 5m"])
def test_bad_windows(text: str) -> None:
    with pytest.raises(BudgetError):
        parse_window(text)
