"""On-call rotation maths (no I/O): who is on call at an instant, and the shifts of a period.

A rotation hands off at a wall-clock time in its time zone: a daily rotation handing off at
09:00 Europe/Berlin hands off at 09:00 local on both sides of a DST change (so one shift a
year is 23 hours long and one 25). Shift k starts at the local time `start + k * length`;
a local time skipped by a DST jump is read with the offset before the jump (zoneinfo's
fold=0), which keeps the boundaries in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

KIND_HOURS = {"daily": 24, "weekly": 24 * 7}
MAX_SHIFTS = 2000


class RotationError(ValueError):
    """A rotation or an override that cannot be used (the message says why)."""


@dataclass(frozen=True)
class Rotation:
    """Members taking turns in shifts of `shift_hours` of wall-clock time from a first handoff."""

    members: tuple[str, ...]
    time_zone: str
    start_date: date
    handoff: time
    shift_hours: int

    def __post_init__(self) -> None:
        if not self.members:
            raise RotationError("a rotation needs at least one member")
        if self.shift_hours < 1:
            raise RotationError("a shift lasts at least one hour")
        zone(self.time_zone)

    @property
    def tz(self) -> ZoneInfo:
        """The rotation's time zone."""
        return zone(self.time_zone)

    def boundary(self, k: int) -> datetime:
        """The UTC instant shift k begins (k may be negative: before the first handoff)."""
        local = datetime.combine(self.start_date, self.handoff) + timedelta(
            hours=k * self.shift_hours
        )
        return local.replace(tzinfo=self.tz).astimezone(UTC)

    def shift_index(self, at: datetime) -> int:
        """The index of the shift that contains `at` (negative before the first handoff)."""
        moment = aware(at)
        first = datetime.combine(self.start_date, self.handoff)
        wall = moment.astimezone(self.tz).replace(tzinfo=None)
        k = int((wall - first) // timedelta(hours=self.shift_hours))
        # The wall-clock estimate can be one off around a DST change: settle on instants.
        while self.boundary(k) > moment:
            k -= 1
        while self.boundary(k + 1) <= moment:
            k += 1
        return k

    def member_of(self, k: int) -> str:
        """Who works shift k."""
        return self.members[k % len(self.members)]


@dataclass(frozen=True)
class Override:
    """Someone covers [starts_at, ends_at) instead of the rotation; the newest one wins."""

    username: str
    starts_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        if aware(self.ends_at) <= aware(self.starts_at):
            raise RotationError("an override must end after it starts")

    def covers(self, at: datetime) -> bool:
        """Whether the override is in force at `at`."""
        return aware(self.starts_at) <= at < aware(self.ends_at)


@dataclass(frozen=True)
class Shift:
    """Who is on call from `starts_at` until `ends_at`, and whether an override put them there."""

    username: str
    starts_at: datetime
    ends_at: datetime
    override: bool


def zone(name: str) -> ZoneInfo:
    """The IANA time zone of this name, or RotationError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RotationError(
            f"unknown time zone '{name}' (use an IANA name like Europe/Berlin)"
        ) from exc


def aware(moment: datetime) -> datetime:
    """`moment` in UTC; a naive time has no meaning here."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RotationError(f"time {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


def rotation_shift(rotation: Rotation, at: datetime) -> Shift | None:
    """The rotation's shift at `at`, or None before its first handoff."""
    k = rotation.shift_index(at)
    if k < 0:
        return None
    return Shift(rotation.member_of(k), rotation.boundary(k), rotation.boundary(k + 1), False)


def who_is_on_call(rotation: Rotation, overrides: Sequence[Override], at: datetime) -> Shift | None:
    """Who is on call at `at`: the newest override covering it, else the rotation's member."""
    moment = aware(at)
    for override in reversed(overrides):
        if override.covers(moment):
            return Shift(
                override.username, aware(override.starts_at), aware(override.ends_at), True
            )
    return rotation_shift(rotation, moment)


def shifts_between(
    rotation: Rotation, overrides: Sequence[Override], since: datetime, until: datetime
) -> list[Shift]:
    """The on-call shifts that cover [since, until), overrides cut in, adjacent pieces merged."""
    begin, end = aware(since), aware(until)
    if end <= begin:
        raise RotationError("the period must end after it begins")
    cuts = {begin, end}
    k = max(rotation.shift_index(begin), 0)
    while (edge := rotation.boundary(k)) < end:
        cuts.add(max(edge, begin))
        k += 1
        if len(cuts) > MAX_SHIFTS:
            raise RotationError(f"more than {MAX_SHIFTS} shifts: ask for a shorter period")
    for override in overrides:
        for edge in (aware(override.starts_at), aware(override.ends_at)):
            if begin < edge < end:
                cuts.add(edge)
    points = sorted(cuts)
    shifts: list[Shift] = []
    for left, right in pairwise(points):
        found = who_is_on_call(rotation, overrides, left)
        if found is None:
            continue
        last = shifts[-1] if shifts else None
        if (
            last
            and last.ends_at == left
            and (last.username, last.override)
            == (
                found.username,
                found.override,
            )
        ):
            shifts[-1] = Shift(last.username, last.starts_at, right, last.override)
        else:
            shifts.append(Shift(found.username, left, right, found.override))
    return shifts
