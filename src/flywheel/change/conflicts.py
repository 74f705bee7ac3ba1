"""What stands in a change's way: blackouts, maintenance windows and other changes (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from flywheel.change.windows import (
    Interval,
    Occurrence,
    Window,
    WindowKind,
    calendar,
    can_override,
    utc,
)

ChangeId = int | str


@dataclass(frozen=True)
class BlackoutHit:
    """A blackout occurrence that a change's planned interval overlaps."""

    window: Window
    occurrence: Interval
    overlap: Interval


@dataclass(frozen=True)
class Slot:
    """Where the change could go instead: interval lies wholly inside occurrence."""

    window: Window
    occurrence: Interval
    interval: Interval


@dataclass(frozen=True)
class WindowVerdict:
    """What the windows say about a change's planned interval."""

    blackouts: tuple[BlackoutHit, ...] = ()
    maintenance_required: bool = False
    fitting: Occurrence | None = None
    next_slot: Slot | None = None

    @property
    def blocked(self) -> bool:
        """Whether the change overlaps a blackout."""
        return bool(self.blackouts)

    @property
    def fits_maintenance(self) -> bool:
        """Whether no maintenance window is required or one holds the whole change."""
        return not self.maintenance_required or self.fitting is not None

    @property
    def clear(self) -> bool:
        """Neither blocked nor outside a required maintenance window."""
        return not self.blocked and self.fits_maintenance

    def overridable(self, roles: Iterable[str]) -> bool:
        """Whether roles may break glass on every blackout hit."""
        held = frozenset(roles)
        return all(can_override(hit.window, held) for hit in self.blackouts)


def window_verdict(
    change: Interval,
    windows: Iterable[Window],
    *,
    requires_maintenance: bool = False,
    not_before: datetime | None = None,
    horizon: timedelta = timedelta(days=366),
) -> WindowVerdict:
    """Blackouts the change overlaps and, if required, the maintenance occurrence holding it."""
    # `windows` are those already in the change's scope (windows.in_scope). Emergency
    # changes get the same verdict; the policy decides what a hit means. When no maintenance
    # occurrence holds the change, next_slot is its earliest placement from max(change start,
    # not_before) up to `horizon` ahead, inside one maintenance occurrence, clear of blackouts.
    listed = list(windows)
    blackouts = [w for w in listed if w.kind is WindowKind.BLACKOUT]
    maintenance = [w for w in listed if w.kind is WindowKind.MAINTENANCE]
    hits = tuple(
        _hit(occurrence, change) for occurrence in calendar(blackouts, change.start, change.end)
    )
    if not requires_maintenance:
        return WindowVerdict(blackouts=hits)
    fitting = _holding(maintenance, change)
    if fitting is not None:
        return WindowVerdict(hits, True, fitting)
    earliest = change.start if not_before is None else max(change.start, utc(not_before))
    slot = _next_slot(change.duration, maintenance, blackouts, earliest, horizon)
    return WindowVerdict(hits, True, None, slot)


def _hit(occurrence: Occurrence, change: Interval) -> BlackoutHit:
    """The blackout hit of an occurrence known to overlap the change."""
    shared = occurrence.interval.overlap(change)
    assert shared is not None
    return BlackoutHit(occurrence.window, occurrence.interval, shared)


def _holding(maintenance: list[Window], change: Interval) -> Occurrence | None:
    """The first maintenance occurrence that holds the whole change."""
    found = calendar(maintenance, change.start, change.end)
    return next((o for o in found if o.interval.contains(change)), None)


def _next_slot(
    length: timedelta,
    maintenance: list[Window],
    blackouts: list[Window],
    earliest: datetime,
    horizon: timedelta,
) -> Slot | None:
    """The earliest placement of length inside a maintenance occurrence, avoiding blackouts."""
    frozen = [o.interval for o in calendar(blackouts, earliest, earliest + horizon + length)]
    for window, occurrence in calendar(maintenance, earliest, earliest + horizon):
        begin = max(occurrence.start, earliest)
        while begin + length <= occurrence.end:
            placed = Interval.of(begin, length)
            clash = next((span for span in frozen if span.intersects(placed)), None)
            if clash is None:
                return Slot(window, occurrence, placed)
            begin = clash.end
    return None


class ConflictKind(StrEnum):
    """Why two changes collide."""

    SAME_CI = "same_ci"
    DEPENDENCY = "dependency"


class Direction(StrEnum):
    """How the CIs of a dependency conflict relate."""

    DEPENDS_ON = "depends_on"  # the checked change's CI depends on the other change's CI
    DEPENDED_ON_BY = "depended_on_by"  # the other change's CI depends on the checked one's


class Dependencies(Protocol):
    """CMDB dependency lookups by CI key (direct or transitive: the caller's choice)."""

    def depends_on(self, ci: str) -> Collection[str]:
        """The CIs that ci depends on."""
        ...

    def dependents_of(self, ci: str) -> Collection[str]:
        """The CIs that depend on ci."""
        ...


class DependencyMap:
    """Dependencies from a mapping of CI key to the keys it depends on."""

    def __init__(
        self, depends_on: Mapping[str, Iterable[str]], *, transitive: bool = False
    ) -> None:
        self._up = {ci: frozenset(targets) for ci, targets in depends_on.items()}
        down: dict[str, set[str]] = defaultdict(set)
        for ci, targets in self._up.items():
            for target in targets:
                down[target].add(ci)
        self._down = {ci: frozenset(sources) for ci, sources in down.items()}
        self._transitive = transitive

    def depends_on(self, ci: str) -> frozenset[str]:
        """The CIs that ci depends on."""
        return self._follow(self._up, ci)

    def dependents_of(self, ci: str) -> frozenset[str]:
        """The CIs that depend on ci."""
        return self._follow(self._down, ci)

    def _follow(self, edges: Mapping[str, frozenset[str]], ci: str) -> frozenset[str]:
        """Neighbours of ci along edges, or everything reachable when transitive."""
        if not self._transitive:
            return edges.get(ci, frozenset())
        seen: set[str] = set()
        todo = [ci]
        while todo:
            fresh = edges.get(todo.pop(), frozenset()) - seen
            seen |= fresh
            todo.extend(fresh)
        return frozenset(seen - {ci})


@dataclass(frozen=True)
class PlannedChange:
    """A change as conflict detection sees it: id, CI keys touched, planned times if any."""

    id: ChangeId
    cis: frozenset[str]
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cis", frozenset(self.cis))

    def interval(self, *, now: datetime, default_duration: timedelta) -> Interval:
        """Planned interval; missing start is now, missing end is start + default_duration."""
        if self.start is not None:
            end = self.end if self.end is not None else self.start + default_duration
            return Interval(self.start, end)
        if self.end is None:
            return Interval.of(now, default_duration)
        return Interval(now if now < self.end else self.end - default_duration, self.end)


@dataclass(frozen=True)
class Conflict:
    """Another change touching ci's CI (same_ci) or a dependency of it, at overlapping times."""

    other: ChangeId
    kind: ConflictKind
    ci: str
    other_ci: str
    direction: Direction | None
    overlap: Interval


Relation = tuple[str, ConflictKind, Direction | None]


def _relations(cis: frozenset[str], deps: Dependencies | None) -> dict[str, list[Relation]]:
    """For each CI another change may touch: which of ours it hits, and how."""
    related: dict[str, list[Relation]] = defaultdict(list)
    for ci in sorted(cis):
        related[ci].append((ci, ConflictKind.SAME_CI, None))
        if deps is None:
            continue
        for up in sorted(frozenset(deps.depends_on(ci)) - cis):
            related[up].append((ci, ConflictKind.DEPENDENCY, Direction.DEPENDS_ON))
        for down in sorted(frozenset(deps.dependents_of(ci)) - cis):
            related[down].append((ci, ConflictKind.DEPENDENCY, Direction.DEPENDED_ON_BY))
    return related


def find_conflicts(
    change: PlannedChange,
    others: Iterable[PlannedChange],
    *,
    now: datetime,
    dependencies: Dependencies | None = None,
    default_duration: timedelta = timedelta(hours=1),
) -> list[Conflict]:
    """Conflicts of change with others (scheduled or in progress), in a stable order."""
    # One conflict per (other change, CI pair). A CI of the other change that the checked
    # change also touches is reported as same_ci only, not again as a dependency.
    if default_duration <= timedelta(0):
        raise ValueError(f"default_duration must be positive, got {default_duration}")
    span = change.interval(now=now, default_duration=default_duration)
    related = _relations(change.cis, dependencies)
    found: list[Conflict] = []
    for other in others:
        shared = span.overlap(other.interval(now=now, default_duration=default_duration))
        if other.id == change.id or shared is None:
            continue
        for other_ci in sorted(other.cis):
            found.extend(
                Conflict(other.id, kind, ci, other_ci, direction, shared)
                for ci, kind, direction in related.get(other_ci, ())
            )
    return sorted(found, key=_order)


def _order(conflict: Conflict) -> tuple[datetime, bool, int, str, bool, str, str, str]:
    """Sort key: overlap start, other change id, same_ci first, then the CIs."""
    other = conflict.other
    return (
        conflict.overlap.start,
        isinstance(other, str),
        other if isinstance(other, int) else 0,
        other if isinstance(other, str) else "",
        conflict.kind is not ConflictKind.SAME_CI,
        conflict.ci,
        conflict.other_ci,
        conflict.direction or "",
    )
