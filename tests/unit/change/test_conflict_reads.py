"""The planned interval a change's conflicts are checked over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flywheel.change.conflict_reads import DEFAULT_DURATION, interval_of
from flywheel.change.models import ChangeRequest

NOW = datetime(2030, 1, 2, 10, 0, tzinfo=UTC)


def test_an_unplanned_change_occupies_the_default_duration_from_now() -> None:
    span = interval_of(ChangeRequest(), NOW)
    assert (span.start, span.end) == (NOW, NOW + DEFAULT_DURATION)


def test_a_planned_change_occupies_its_plan() -> None:
    start, end = NOW + timedelta(days=1), NOW + timedelta(days=1, hours=3)
    span = interval_of(ChangeRequest(planned_start=start, planned_end=end), NOW)
    assert (span.start, span.end) == (start, end)


def test_an_end_alone_that_has_passed_spans_the_default_duration_before_it() -> None:
    """It passed while the request waited for its batch: no error, as for stored changes."""
    end = NOW - timedelta(seconds=1)
    span = interval_of(ChangeRequest(planned_end=end), NOW)
    assert (span.start, span.end) == (end - DEFAULT_DURATION, end)


def test_an_end_alone_still_ahead_starts_now() -> None:
    end = NOW + timedelta(minutes=20)
    span = interval_of(ChangeRequest(planned_end=end), NOW)
    assert (span.start, span.end) == (NOW, end)
