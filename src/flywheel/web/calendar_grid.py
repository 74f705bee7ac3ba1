"""A month of the change calendar laid out in weeks (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from flywheel.errors import InvalidInput

MAX_PER_DAY = 6
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class Entry(Protocol):
    """What the calendar shows: a change or a window occurrence."""

    kind: str
    start: datetime
    end: datetime
    title: str


@dataclass
class Day:
    """One day cell: what happens on it, and whether a freeze covers any of it."""

    day: date
    in_month: bool
    entries: list[Entry] = field(default_factory=list)
    hidden: int = 0

    @property
    def frozen(self) -> bool:
        """Whether a blackout (freeze) window touches this day."""
        return any(e.kind == "window:blackout" for e in self.entries)


def parse_month(text: str, today: date) -> date:
    """The first day of 'YYYY-MM' (this month when empty); InvalidInput naming the problem."""
    if not text:
        return today.replace(day=1)
    found = _MONTH.match(text.strip())
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1970:
        raise InvalidInput(f"month must look like 2026-03 (year-month), not '{text}'")
    return date(int(found.group(1)), int(found.group(2)), 1)


def shift_month(first: date, months: int) -> date:
    """The first day of the month `months` away."""
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def grid_span(first: date) -> tuple[datetime, datetime]:
    """The UTC span the grid shows: Monday on or before the 1st to Sunday after the last day."""
    start = first - timedelta(days=first.weekday())
    last = shift_month(first, 1) - timedelta(days=1)
    end = last + timedelta(days=7 - last.weekday())
    return datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC)


def month_grid(first: date, entries: list[Entry]) -> list[list[Day]]:
    """Weeks (Monday first) of days, each with the entries overlapping it (windows first)."""
    start, end = grid_span(first)
    days = [Day(start.date() + timedelta(days=n), False) for n in range((end - start).days)]
    for cell in days:
        cell.in_month = cell.day.month == first.month
    ordered = sorted(entries, key=lambda e: (not e.kind.startswith("window"), e.start, e.title))
    for entry in ordered:
        for cell in days:
            begins = datetime.combine(cell.day, time(), UTC)
            if entry.start < begins + timedelta(days=1) and entry.end > begins:
                if len(cell.entries) < MAX_PER_DAY:
                    cell.entries.append(entry)
                else:
                    cell.hidden += 1
    return [days[i : i + 7] for i in range(0, len(days), 7)]
