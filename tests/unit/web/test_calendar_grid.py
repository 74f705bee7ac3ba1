"""The month grid of the change calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from flywheel.errors import InvalidInput
from flywheel.web.calendar_grid import (
    MAX_PER_DAY,
    grid_span,
    month_grid,
    parse_month,
    shift_month,
)


@dataclass
class Item:
    kind: str
    start: datetime
    end: datetime
    title: str


def at(day: int, hour: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def test_months_parse_and_shift() -> None:
    today = date(2026, 3, 17)
    assert parse_month("", today) == date(2026, 3, 1)
    assert parse_month("2025-12", today) == date(2025, 12, 1)
    for bad in ("2026-13", "March", "2026-3", "1900-01"):
        with pytest.raises(InvalidInput, match="month must look like"):
            parse_month(bad, today)
    assert shift_month(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert shift_month(date(2026, 12, 1), 1) == date(2027, 1, 1)


def test_the_grid_runs_monday_to_sunday_around_the_month() -> None:
    start, end = grid_span(date(2026, 3, 1))  # a Sunday
    assert start == datetime(2026, 2, 23, tzinfo=UTC)
    assert end == datetime(2026, 4, 6, tzinfo=UTC)
    weeks = month_grid(date(2026, 3, 1), [])
    assert len(weeks) == 6 and all(len(w) == 7 for w in weeks)
    assert weeks[0][6].day == date(2026, 3, 1) and weeks[0][6].in_month
    assert not weeks[0][0].in_month


def test_entries_land_on_every_day_they_touch_windows_first() -> None:
    freeze = Item("window:blackout", at(6, 18), at(8, 6), "Weekend freeze")
    change = Item("change", at(7, 10), at(7, 11), "Deploy")
    weeks = month_grid(date(2026, 3, 1), [change, freeze])
    days = {cell.day.day: cell for week in weeks for cell in week if cell.in_month}
    assert [e.title for e in days[7].entries] == ["Weekend freeze", "Deploy"]
    assert days[6].frozen and days[8].frozen and not days[9].frozen
    many = [Item("change", at(10, 9), at(10, 10), f"c{i}") for i in range(MAX_PER_DAY + 3)]
    busy = {c.day.day: c for w in month_grid(date(2026, 3, 1), many) for c in w if c.in_month}
    assert len(busy[10].entries) == MAX_PER_DAY and busy[10].hidden == 3
