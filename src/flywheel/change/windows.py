"""Change windows: blackout (freeze) and maintenance windows, one-off or recurring (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule as rfc5545

E = TypeVar("E", bound=StrEnum)

ALLOWED_FREQS = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_SLACK = timedelta(days=1)  # covers UTC offsets and DST shifts when searching wall times
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


class WindowError(ValueError):
    """A window, interval or query that cannot be valid; the message says why."""


def utc(value: datetime, what: str = "datetime") -> datetime:
    """The aware datetime in UTC; naive ones are refused."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise WindowError(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def _enum(cls: type[E], value: str, what: str) -> E:
    """The enum member for value, or WindowError naming the choices."""
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(member.value for member in cls)
        raise WindowError(f"unknown {what} {value!r}; expected one of: {choices}") from None


def _zone(name: str) -> ZoneInfo:
    """The IANA zone, or WindowError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(f"unknown timezone {name!r}") from None


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open span [start, end) of aware instants, stored in UTC; end is after start."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start, "start"))
        object.__setattr__(self, "end", utc(self.end, "end"))
        if self.end <= self.start:
            raise WindowError(
                f"end {self.end.isoformat()} must be after start {self.start.isoformat()}"
            )

    @classmethod
    def of(cls, start: datetime, duration: timedelta) -> Interval:
        """The interval that starts at start and lasts duration."""
        return cls(start, utc(start, "start") + duration)

    @property
    def duration(self) -> timedelta:
        """Elapsed time from start to end."""
        return self.end - self.start

    def intersects(self, other: Interval) -> bool:
        """Whether the two share an instant; touching ends (end == start) do not."""
        return self.start < other.end and other.start < self.end

    def overlap(self, other: Interval) -> Interval | None:
        """The shared part, or None."""
        if not self.intersects(other):
            return None
        return Interval(max(self.start, other.start), min(self.end, other.end))

    def contains(self, other: Interval) -> bool:
        """Whether other lies wholly inside this interval."""
        return self.start <= other.start and other.end <= self.end


class WindowKind(StrEnum):
    """Blackout (freeze) windows forbid changes; maintenance windows permit them."""

    BLACKOUT = "blackout"
    MAINTENANCE = "maintenance"


class ScopeKind(StrEnum):
    """What a window covers."""

    ALL = "all"
    SERVICE = "service"
    CI = "ci"


@dataclass(frozen=True)
class Scope:
    """All CIs, a service, or a CI (with everything that depends on it if include_dependents)."""

    kind: ScopeKind = ScopeKind.ALL
    key: str | None = None
    include_dependents: bool = False

    def __post_init__(self) -> None:
        kind = _enum(ScopeKind, self.kind, "scope")
        object.__setattr__(self, "kind", kind)
        if kind is ScopeKind.ALL and self.key is not None:
            raise WindowError("scope 'all' takes no key")
        if kind is not ScopeKind.ALL and not (self.key and self.key.strip()):
            raise WindowError(f"scope {kind.value!r} needs a key")
        if self.include_dependents and kind is not ScopeKind.CI:
            raise WindowError("include_dependents applies only to a CI scope")

    @classmethod
    def parse(cls, text: str, *, include_dependents: bool = False) -> Scope:
        """Scope from 'all', 'service:KEY' or 'ci:KEY'."""
        kind, _, key = text.strip().partition(":")
        return cls(_enum(ScopeKind, kind, "scope"), key.strip() or None, include_dependents)

    def __str__(self) -> str:
        """'all', 'service:KEY', 'ci:KEY' or 'ci:KEY+dependents'."""
        suffix = "+dependents" if self.include_dependents else ""
        return "all" if self.key is None else f"{self.kind.value}:{self.key}{suffix}"


@dataclass(frozen=True)
class Window:
    """A named window: one-off (start, end) or recurring (rrule, dtstart, duration, timezone)."""

    # A naive dtstart is a wall time in `timezone`; an aware one is converted to it.
    # Occurrences keep their local start and wall-clock length across DST changes.

    name: str
    kind: WindowKind
    scope: Scope = Scope()
    start: datetime | None = None
    end: datetime | None = None
    rrule: str | None = None
    dtstart: datetime | None = None
    duration: timedelta | None = None
    timezone: str = "UTC"
    override_roles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        try:
            self._normalize()
        except WindowError as exc:
            raise WindowError(f"window {self.name!r}: {exc}") from None

    def _normalize(self) -> None:
        """Validate every field, coercing kinds, zones and roles in place."""
        if not self.name.strip():
            raise WindowError("name must not be empty")
        object.__setattr__(self, "kind", _enum(WindowKind, self.kind, "kind"))
        object.__setattr__(self, "override_roles", frozenset(self.override_roles))
        if self.override_roles and self.kind is not WindowKind.BLACKOUT:
            raise WindowError("override_roles apply only to blackout windows")
        zone = _zone(self.timezone)
        if self.rrule is None:
            self._normalize_one_off()
        else:
            self._normalize_recurring(self.rrule, zone)

    def _normalize_one_off(self) -> None:
        """A one-off window has start and end and nothing recurring."""
        if self.dtstart is not None or self.duration is not None:
            raise WindowError("dtstart and duration belong to recurring windows (set rrule)")
        if self.start is None or self.end is None:
            raise WindowError("a one-off window needs start and end (or rrule for recurring)")
        span = Interval(self.start, self.end)
        object.__setattr__(self, "start", span.start)
        object.__setattr__(self, "end", span.end)

    def _normalize_recurring(self, text: str, zone: ZoneInfo) -> None:
        """A recurring window has rrule, dtstart and a positive duration."""
        if self.start is not None or self.end is not None:
            raise WindowError("a recurring window takes dtstart and duration, not start/end")
        if self.dtstart is None or self.duration is None:
            raise WindowError("a recurring window needs dtstart and duration")
        if self.duration <= timedelta(0):
            raise WindowError(f"duration must be positive, got {self.duration}")
        aware = self.dtstart.tzinfo is not None
        local = self.dtstart.astimezone(zone) if aware else self.dtstart.replace(tzinfo=zone)
        object.__setattr__(self, "dtstart", local)
        text = _clean_rrule(text)
        _compile(text, local.replace(tzinfo=None), self.timezone)
        object.__setattr__(self, "rrule", text)

    @property
    def recurring(self) -> bool:
        """Whether the window repeats by its rrule."""
        return self.rrule is not None

    @property
    def zone(self) -> ZoneInfo:
        """The window's IANA time zone."""
        return ZoneInfo(self.timezone)


def _clean_rrule(text: str) -> str:
    """The RRULE text without an 'RRULE:' prefix or surrounding blanks."""
    text = text.strip()
    return text[6:].strip() if text.upper().startswith("RRULE:") else text


@lru_cache(maxsize=1024)
def _compile(text: str, wall_start: datetime, zone_name: str) -> rfc5545.rrule:
    """The parsed rule, checked; cached per text, local start and zone."""
    _check_rrule_text(text)
    start = wall_start.replace(tzinfo=ZoneInfo(zone_name))
    try:
        rule = rfc5545.rrulestr(text, dtstart=start)
    except (ValueError, TypeError) as exc:
        raise WindowError(f"bad RRULE {text!r}: {exc}") from None
    if not isinstance(rule, rfc5545.rrule):
        raise WindowError(f"bad RRULE {text!r}: expected a single rule")
    if rule.after(start, inc=True) is None:
        raise WindowError(f"RRULE {text!r} never produces an occurrence")
    return rule


def _check_rrule_text(text: str) -> None:
    """Reject what dateutil accepts but a window must not have."""
    if not text:
        raise WindowError("RRULE is empty")
    if "\n" in text or "DTSTART" in text.upper():
        raise WindowError("RRULE must be one rule; give its start as dtstart")
    parts = dict(part.partition("=")[::2] for part in text.upper().split(";") if part)
    freq = parts.get("FREQ")
    if freq is None:
        raise WindowError(f"bad RRULE {text!r}: FREQ is required")
    if freq not in ALLOWED_FREQS:
        raise WindowError(f"RRULE FREQ must be one of {', '.join(ALLOWED_FREQS)}, got {freq}")
    if not parts.get("INTERVAL", "1").isdigit() or int(parts.get("INTERVAL", "1")) < 1:
        raise WindowError(f"RRULE INTERVAL must be a positive integer, got {parts['INTERVAL']}")
    if "COUNT" in parts and "UNTIL" in parts:
        raise WindowError("RRULE may have COUNT or UNTIL, not both")


def parse_duration(value: timedelta | int | str) -> timedelta:
    """A duration from a timedelta, whole minutes, or text such as '2h', '90m', '1d2h30m'."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int):
        return timedelta(minutes=value)
    match = _DURATION.match(value.strip())
    if not value.strip() or match is None:
        raise WindowError(f"bad duration {value!r}; use e.g. '2h', '90m' or '1d2h30m'")
    days, hours, minutes = (int(group or 0) for group in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def _when(value: datetime | str | None, what: str) -> datetime | None:
    """A datetime from a datetime or ISO 8601 text."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise WindowError(f"{what} is not an ISO 8601 datetime: {value!r}") from None


def parse_window(
    *,
    name: str,
    kind: str,
    scope: str | Scope = "all",
    scope_key: str | None = None,
    include_dependents: bool = False,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    rrule: str | None = None,
    dtstart: datetime | str | None = None,
    duration: timedelta | int | str | None = None,
    timezone: str = "UTC",
    override_roles: Iterable[str] = (),
) -> Window:
    """A validated window from loose input (API, YAML, a table row); raises WindowError."""
    # scope: 'all', 'service:KEY', 'ci:KEY', or a scope kind with scope_key. For a
    # recurring window dtstart defaults to start (the table keeps one start column).
    if not isinstance(scope, Scope):
        text = scope if scope_key is None else f"{scope}:{scope_key}"
        scope = Scope.parse(text, include_dependents=include_dependents)
    if rrule is not None and dtstart is None:
        start, dtstart = None, start
    return Window(
        name=name,
        kind=_enum(WindowKind, kind, "kind"),
        scope=scope,
        start=_when(start, "start"),
        end=_when(end, "end"),
        rrule=rrule,
        dtstart=_when(dtstart, "dtstart"),
        duration=None if duration is None else parse_duration(duration),
        timezone=timezone,
        override_roles=frozenset(override_roles),
    )


def _materialize(wall: datetime, duration: timedelta, zone: ZoneInfo) -> Interval:
    """One occurrence from its local start, lasting duration on the wall clock."""
    # A nonexistent wall time (spring forward) moves on by the gap; an ambiguous one
    # (fall back) takes its first, summer-time reading.
    start = wall.astimezone(UTC)
    end = (start.astimezone(zone) + duration).astimezone(UTC)
    return Interval(start, end if end > start else start + duration)


def _recurrences(window: Window, query: Interval) -> Iterator[Interval]:
    """The occurrences of a recurring window that could touch query, in order."""
    assert window.rrule is not None and window.dtstart is not None and window.duration
    zone = window.zone
    rule = _compile(window.rrule, window.dtstart.replace(tzinfo=None), window.timezone)
    low = query.start.astimezone(zone) - window.duration - _SLACK
    high = query.end.astimezone(zone) + _SLACK
    for wall in rule.between(low, high, inc=True):
        yield _materialize(wall, window.duration, zone)


def occurrences(window: Window, start: datetime, end: datetime) -> list[Interval]:
    """The window's occurrences that overlap [start, end), in order, whole (not clipped)."""
    # Only the query range is expanded, so unbounded rules are fine.
    query = Interval(start, end)
    if window.rrule is None:
        assert window.start is not None and window.end is not None
        spans: Iterable[Interval] = [Interval(window.start, window.end)]
    else:
        spans = _recurrences(window, query)
    return [span for span in spans if span.intersects(query)]


def overlaps(window: Window, interval: Interval) -> Interval | None:
    """The part of interval inside the window's first overlapping occurrence, or None."""
    found = occurrences(window, interval.start, interval.end)
    return found[0].overlap(interval) if found else None


def is_active(window: Window, at: datetime) -> bool:
    """Whether an occurrence of the window holds the instant at (start inclusive)."""
    return bool(occurrences(window, at, at + timedelta(microseconds=1)))


def can_override(window: Window, roles: Iterable[str]) -> bool:
    """Whether one of roles may break glass on this blackout; maintenance windows: never."""
    return window.kind is WindowKind.BLACKOUT and not window.override_roles.isdisjoint(roles)


CoverResolver = Callable[[Scope], Collection[str]]
"""The CI keys a scope covers (a service's CIs; a CI and, if asked, its dependents)."""


def applies_to(
    window: Window, *, service: str | None, ci_keys: Collection[str], covered: CoverResolver
) -> bool:
    """Whether the window's scope reaches a change on service touching ci_keys."""
    scope = window.scope
    if scope.kind is ScopeKind.ALL or (scope.kind is ScopeKind.SERVICE and scope.key == service):
        return True
    return not set(ci_keys).isdisjoint(covered(scope))


def in_scope(
    windows: Iterable[Window],
    *,
    service: str | None,
    ci_keys: Collection[str],
    covered: CoverResolver,
) -> list[Window]:
    """The windows whose scope reaches the change."""
    keys = frozenset(ci_keys)
    return [w for w in windows if applies_to(w, service=service, ci_keys=keys, covered=covered)]


class Occurrence(NamedTuple):
    """One occurrence of a window."""

    window: Window
    interval: Interval


def calendar(windows: Iterable[Window], start: datetime, end: datetime) -> list[Occurrence]:
    """Every occurrence overlapping [start, end), by start, end, then window name."""
    found = [Occurrence(w, span) for w in windows for span in occurrences(w, start, end)]
    return sorted(found, key=lambda o: (o.interval.start, o.interval.end, o.window.name))
