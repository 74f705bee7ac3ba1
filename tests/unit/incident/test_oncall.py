"""Rotation maths: handoffs in local wall-clock time across DST, overrides, shift listings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from flywheel.incident.oncall import (
    Override,
    Rotation,
    RotationError,
    rotation_shift,
    shifts_between,
    who_is_on_call,
)

BERLIN = "Europe/Berlin"
DAILY = Rotation(("ann", "bob", "cy"), BERLIN, date(2025, 3, 28), time(9, 0), 24)
WEEKLY = Rotation(("ann", "bob"), "America/New_York", date(2025, 3, 3), time(10, 0), 24 * 7)
TWELVE = Rotation(("day", "night"), BERLIN, date(2025, 3, 29), time(8, 0), 12)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("rotation", "at", "who"),
    [
        (DAILY, utc(2025, 3, 28, 7, 59), None),  # before the first handoff (09:00 CET)
        (DAILY, utc(2025, 3, 28, 8, 0), "ann"),
        (DAILY, utc(2025, 3, 29, 7, 59), "ann"),
        (DAILY, utc(2025, 3, 29, 8, 0), "bob"),
        # 30 March: clocks go forward; 09:00 CEST is 07:00 UTC.
        (DAILY, utc(2025, 3, 30, 6, 59), "bob"),
        (DAILY, utc(2025, 3, 30, 7, 0), "cy"),
        (DAILY, utc(2025, 3, 31, 7, 0), "ann"),  # wraps round the members
        # 26 October: clocks go back; 09:00 CET is 08:00 UTC again.
        (DAILY, utc(2025, 10, 26, 7, 59), DAILY.member_of(211)),
        (DAILY, utc(2025, 10, 26, 8, 0), DAILY.member_of(212)),
        (WEEKLY, utc(2025, 3, 3, 15, 0), "ann"),  # 10:00 EST is 15:00 UTC
        (WEEKLY, utc(2025, 3, 10, 13, 59), "ann"),  # DST began 9 March: 10:00 EDT is 14:00
        (WEEKLY, utc(2025, 3, 10, 14, 0), "bob"),
        (TWELVE, utc(2025, 3, 29, 7, 0), "day"),  # 08:00 CET
        (TWELVE, utc(2025, 3, 29, 19, 0), "night"),  # 20:00 CET
        (TWELVE, utc(2025, 3, 30, 5, 59), "night"),  # 07:59 CEST: the short night
        (TWELVE, utc(2025, 3, 30, 6, 0), "day"),  # 08:00 CEST
    ],
)
def test_who_is_on_call_follows_the_local_handoff(
    rotation: Rotation, at: datetime, who: str | None
) -> None:
    found = who_is_on_call(rotation, [], at)
    assert (found.username if found else None) == who


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2025, 3, 29), 23), (date(2025, 3, 30), 24), (date(2025, 10, 25), 25)],
)
def test_daily_shifts_stretch_or_shrink_over_dst(day: date, hours: int) -> None:
    at = datetime.combine(day, time(12, 0), tzinfo=UTC)
    shift = rotation_shift(DAILY, at)
    assert shift is not None
    assert shift.ends_at - shift.starts_at == timedelta(hours=hours)


def test_a_skipped_local_handoff_keeps_boundaries_in_order() -> None:
    # 02:30 does not exist in Berlin on 30 March 2025.
    night = Rotation(("a", "b"), BERLIN, date(2025, 3, 28), time(2, 30), 24)
    edges = [night.boundary(k) for k in range(5)]
    assert edges == sorted(edges)
    assert edges[2] == utc(2025, 3, 30, 1, 30)  # read with the offset before the jump


@pytest.mark.parametrize(
    ("at", "who", "override"),
    [
        (utc(2025, 4, 1, 11, 59), "bob", False),
        (utc(2025, 4, 1, 12, 0), "zoe", True),
        (utc(2025, 4, 1, 14, 0), "yan", True),  # the newer override wins where both cover
        (utc(2025, 4, 1, 15, 0), "zoe", True),
        (utc(2025, 4, 1, 18, 0), "bob", False),
    ],
)
def test_overrides_cover_a_period(at: datetime, who: str, override: bool) -> None:
    overrides = [
        Override("zoe", utc(2025, 4, 1, 12), utc(2025, 4, 1, 18)),
        Override("yan", utc(2025, 4, 1, 13), utc(2025, 4, 1, 15)),
    ]
    found = who_is_on_call(DAILY, overrides, at)
    assert found is not None
    assert (found.username, found.override) == (who, override)


def test_shifts_between_cut_in_overrides_and_merge_neighbours() -> None:
    overrides = [Override("zoe", utc(2025, 3, 29, 12), utc(2025, 3, 29, 20))]
    shifts = shifts_between(DAILY, overrides, utc(2025, 3, 29, 0), utc(2025, 3, 31, 0))
    got = [(s.username, s.starts_at, s.ends_at, s.override) for s in shifts]
    assert got == [
        ("ann", utc(2025, 3, 29, 0), utc(2025, 3, 29, 8), False),
        ("bob", utc(2025, 3, 29, 8), utc(2025, 3, 29, 12), False),
        ("zoe", utc(2025, 3, 29, 12), utc(2025, 3, 29, 20), True),
        ("bob", utc(2025, 3, 29, 20), utc(2025, 3, 30, 7), False),
        ("cy", utc(2025, 3, 30, 7), utc(2025, 3, 31, 0), False),
    ]


def test_a_single_member_is_on_call_throughout() -> None:
    solo = Rotation(("ann",), "UTC", date(2025, 1, 1), time(0, 0), 24)
    shifts = shifts_between(solo, [], utc(2025, 1, 1), utc(2025, 1, 8))
    assert [(s.username, s.starts_at, s.ends_at) for s in shifts] == [
        ("ann", utc(2025, 1, 1), utc(2025, 1, 8))
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Rotation((), "UTC", date(2025, 1, 1), time(9), 24), "at least one member"),
        (lambda: Rotation(("a",), "Mars/Olympus", date(2025, 1, 1), time(9), 24), "time zone"),
        (lambda: Rotation(("a",), "UTC", date(2025, 1, 1), time(9), 0), "one hour"),
        (lambda: Override("a", utc(2025, 1, 2), utc(2025, 1, 1)), "end after"),
        (lambda: who_is_on_call(DAILY, [], datetime(2025, 1, 1)), "no time zone"),
        (lambda: shifts_between(DAILY, [], utc(2025, 1, 2), utc(2025, 1, 1)), "end after"),
        (lambda: shifts_between(TWELVE, [], utc(2025, 1, 1), utc(2030, 1, 1)), "shorter period"),
    ],
)
def test_bad_rotations_and_periods_are_refused(make: object, message: str) -> None:
    with pytest.raises(RotationError, match=message):
        make()  # type: ignore[operator]
