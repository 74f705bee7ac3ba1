"""What stands in a change's way: blackout hits, maintenance fit, and other changes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from flywheel.change.conflicts import (
    Conflict,
    ConflictKind,
    DependencyMap,
    Direction,
    PlannedChange,
    find_conflicts,
    window_verdict,
)
from flywheel.change.windows import Interval, Window, parse_window

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)


def berlin(*args: int) -> datetime:
    """A Berlin wall-clock datetime."""
    return datetime(*args, tzinfo=BERLIN)


def utc(*args: int) -> datetime:
    """A UTC datetime."""
    return datetime(*args, tzinfo=UTC)


def planned(start: datetime, hours: float) -> Interval:
    """A change's planned interval."""
    return Interval.of(start, timedelta(hours=hours))


def sunday_maintenance() -> Window:
    """Sundays 02:00-06:00 Berlin time."""
    return parse_window(
        name="sunday",
        kind="maintenance",
        rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0",
        dtstart=datetime(2026, 1, 4, 2),
        duration="4h",
        timezone="Europe/Berlin",
    )


def friday_freeze() -> Window:
    """Fridays 16:00-18:00 Berlin time; SREs may break glass."""
    return parse_window(
        name="friday",
        kind="blackout",
        rrule="FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0",
        dtstart=datetime(2026, 1, 2, 16),
        duration="2h",
        timezone="Europe/Berlin",
        override_roles=["sre"],
    )


def freeze(start: datetime, end: datetime, name: str = "freeze") -> Window:
    """A one-off blackout."""
    return parse_window(name=name, kind="blackout", start=start, end=end)


# --- windows -------------------------------------------------------------------------------


def test_blackout_hit_names_occurrence_and_overlap() -> None:
    verdict = window_verdict(planned(berlin(2026, 6, 5, 17), 2), [friday_freeze()])
    (hit,) = verdict.blackouts
    assert hit.window.name == "friday"
    assert hit.occurrence == Interval(berlin(2026, 6, 5, 16), berlin(2026, 6, 5, 18))
    assert hit.overlap == Interval(berlin(2026, 6, 5, 17), berlin(2026, 6, 5, 18))
    assert verdict.blocked
    assert not verdict.clear


def test_change_touching_a_blackout_is_clear() -> None:
    verdict = window_verdict(planned(berlin(2026, 6, 5, 18), 1), [friday_freeze()])
    assert verdict.blackouts == ()
    assert verdict.clear


def test_break_glass_on_every_hit() -> None:
    change = planned(berlin(2026, 6, 5, 17), 2)
    verdict = window_verdict(change, [friday_freeze(), freeze(change.start, change.end)])
    assert len(verdict.blackouts) == 2
    assert not verdict.overridable(["sre"])  # the one-off freeze names no override roles
    only_friday = window_verdict(change, [friday_freeze()])
    assert only_friday.overridable(["developer", "sre"])
    assert not only_friday.overridable(["developer"])


def test_change_inside_a_maintenance_occurrence_fits() -> None:
    verdict = window_verdict(
        planned(berlin(2026, 6, 7, 3), 1), [sunday_maintenance()], requires_maintenance=True
    )
    assert verdict.fits_maintenance
    assert verdict.fitting is not None
    assert verdict.fitting.interval == Interval(berlin(2026, 6, 7, 2), berlin(2026, 6, 7, 6))
    assert verdict.next_slot is None
    assert verdict.clear


def test_change_outside_maintenance_is_told_the_next_slot() -> None:
    verdict = window_verdict(
        planned(berlin(2026, 6, 1, 10), 1.5), [sunday_maintenance()], requires_maintenance=True
    )
    assert not verdict.fits_maintenance
    assert verdict.next_slot is not None
    assert verdict.next_slot.interval == Interval(berlin(2026, 6, 7, 2), berlin(2026, 6, 7, 3, 30))
    assert verdict.next_slot.occurrence == Interval(berlin(2026, 6, 7, 2), berlin(2026, 6, 7, 6))


def test_change_overrunning_its_occurrence_goes_to_the_next_one() -> None:
    verdict = window_verdict(
        planned(berlin(2026, 6, 7, 5, 30), 1), [sunday_maintenance()], requires_maintenance=True
    )
    assert verdict.fitting is None
    assert verdict.next_slot is not None
    assert verdict.next_slot.interval.start == berlin(2026, 6, 14, 2)


def test_next_slot_avoids_blackouts() -> None:
    whole_sunday = freeze(berlin(2026, 6, 7), berlin(2026, 6, 8), "release-day")
    early_hours = freeze(berlin(2026, 6, 14, 1), berlin(2026, 6, 14, 3), "db-upgrade")
    verdict = window_verdict(
        planned(berlin(2026, 6, 1, 10), 2),
        [sunday_maintenance(), whole_sunday, early_hours],
        requires_maintenance=True,
    )
    assert verdict.next_slot is not None
    assert verdict.next_slot.interval == Interval(berlin(2026, 6, 14, 3), berlin(2026, 6, 14, 5))


def test_next_slot_respects_not_before() -> None:
    verdict = window_verdict(
        planned(berlin(2026, 6, 1, 10), 1),
        [sunday_maintenance()],
        requires_maintenance=True,
        not_before=berlin(2026, 6, 7, 4, 30),
    )
    assert verdict.next_slot is not None
    assert verdict.next_slot.interval == Interval(
        berlin(2026, 6, 7, 4, 30), berlin(2026, 6, 7, 5, 30)
    )


def test_change_longer_than_any_occurrence_has_no_slot() -> None:
    verdict = window_verdict(
        planned(berlin(2026, 6, 1, 10), 6), [sunday_maintenance()], requires_maintenance=True
    )
    assert not verdict.fits_maintenance
    assert verdict.next_slot is None


def test_the_fall_back_night_holds_an_hour_more() -> None:
    # 02:00-06:00 on the wall clock lasts five hours when the clocks go back.
    verdict = window_verdict(
        planned(berlin(2026, 6, 1, 10), 5), [sunday_maintenance()], requires_maintenance=True
    )
    assert verdict.next_slot is not None
    assert verdict.next_slot.interval == Interval(utc(2026, 10, 25, 0), utc(2026, 10, 25, 5))


def test_maintenance_only_matters_when_required() -> None:
    change = planned(berlin(2026, 6, 1, 10), 1)
    assert window_verdict(change, [sunday_maintenance()]).fits_maintenance
    assert window_verdict(change, []).clear
    required = window_verdict(change, [], requires_maintenance=True)
    assert not required.fits_maintenance
    assert required.next_slot is None


# --- conflicts between changes -------------------------------------------------------------

NOW = utc(2026, 6, 1, 10)
# shop -> web -> db, web -> cache ("a -> b": a depends on b)
DEPS = DependencyMap({"shop": ["web"], "web": ["db", "cache"]})


def change(
    ident: int | str, cis: set[str], start: int | None = None, end: int | None = None
) -> PlannedChange:
    """A change on 2026-06-01 between the given UTC hours (None: not planned)."""
    return PlannedChange(
        ident,
        frozenset(cis),
        None if start is None else utc(2026, 6, 1, start),
        None if end is None else utc(2026, 6, 1, end),
    )


def test_same_ci_in_overlapping_interval() -> None:
    found = find_conflicts(change(1, {"web"}, 10, 12), [change(2, {"web"}, 11, 13)], now=NOW)
    assert found == [
        Conflict(
            2,
            ConflictKind.SAME_CI,
            "web",
            "web",
            None,
            Interval(utc(2026, 6, 1, 11), utc(2026, 6, 1, 12)),
        )
    ]


def test_dependency_in_both_directions() -> None:
    ours = change(1, {"web"}, 10, 12)
    upstream, downstream = change(2, {"db"}, 10, 11), change(3, {"shop"}, 11, 12)
    found = find_conflicts(ours, [downstream, upstream], now=NOW, dependencies=DEPS)
    assert [(c.other, c.kind, c.ci, c.other_ci, c.direction) for c in found] == [
        (2, ConflictKind.DEPENDENCY, "web", "db", Direction.DEPENDS_ON),
        (3, ConflictKind.DEPENDENCY, "web", "shop", Direction.DEPENDED_ON_BY),
    ]


def test_transitive_dependencies_when_asked() -> None:
    ours, other = change(1, {"shop"}, 10, 12), change(2, {"db"}, 10, 12)
    assert find_conflicts(ours, [other], now=NOW, dependencies=DEPS) == []
    deep = DependencyMap({"shop": ["web"], "web": ["db"]}, transitive=True)
    (found,) = find_conflicts(ours, [other], now=NOW, dependencies=deep)
    assert (found.ci, found.other_ci, found.direction) == ("shop", "db", Direction.DEPENDS_ON)
    assert deep.dependents_of("db") == {"web", "shop"}


def test_adjacent_and_unrelated_changes_do_not_conflict() -> None:
    ours = change(1, {"web"}, 10, 12)
    others = [change(2, {"web"}, 12, 13), change(3, {"db"}, 8, 10), change(4, {"mail"}, 10, 12)]
    assert find_conflicts(ours, others, now=NOW, dependencies=DEPS) == []


def test_dependencies_are_only_checked_when_given() -> None:
    assert find_conflicts(change(1, {"web"}, 10, 12), [change(2, {"db"}, 10, 12)], now=NOW) == []


@pytest.mark.parametrize(("default_hours", "conflicts"), [(1, 0), (2, 1)])
def test_unplanned_change_runs_from_now_for_the_default_duration(
    default_hours: int, conflicts: int
) -> None:
    ours = change(1, {"web"})  # [now, now + default]
    other = change(2, {"web"}, 11)  # starts at 11:00, lasts the default duration
    found = find_conflicts(ours, [other], now=NOW, default_duration=timedelta(hours=default_hours))
    assert len(found) == conflicts


def test_unplanned_times_fill_in() -> None:
    assert change(1, set()).interval(now=NOW, default_duration=H) == Interval(NOW, NOW + H)
    assert change(1, set(), 12).interval(now=NOW, default_duration=H) == Interval(
        NOW + 2 * H, NOW + 3 * H
    )
    assert change(1, set(), None, 12).interval(now=NOW, default_duration=H) == Interval(
        NOW, NOW + 2 * H
    )
    past_end = change(1, set(), None, 9).interval(now=NOW, default_duration=H)
    assert past_end == Interval(NOW - 2 * H, NOW - H)


def test_several_conflicts_in_a_stable_order() -> None:
    ours = change("CHG-1", {"web", "db"}, 10, 14)
    others = [
        change("CHG-9", {"shop", "web"}, 10, 12),
        change("CHG-3", {"db", "cache"}, 12, 13),
        change("CHG-2", {"cache"}, 10, 11),
        change("CHG-1", {"web"}, 10, 14),  # the change itself, listed among the scheduled
    ]
    expected = [
        ("CHG-2", ConflictKind.DEPENDENCY, "web", "cache", Direction.DEPENDS_ON),
        ("CHG-9", ConflictKind.SAME_CI, "web", "web", None),
        ("CHG-9", ConflictKind.DEPENDENCY, "web", "shop", Direction.DEPENDED_ON_BY),
        ("CHG-3", ConflictKind.SAME_CI, "db", "db", None),
        ("CHG-3", ConflictKind.DEPENDENCY, "web", "cache", Direction.DEPENDS_ON),
    ]
    for seed in range(5):
        random.Random(seed).shuffle(others)
        found = find_conflicts(ours, others, now=NOW, dependencies=DEPS)
        assert [(c.other, c.kind, c.ci, c.other_ci, c.direction) for c in found] == expected


def test_a_ci_we_touch_is_reported_as_same_ci_not_as_a_dependency() -> None:
    found = find_conflicts(
        change(1, {"web", "db"}, 10, 12), [change(2, {"db"}, 10, 12)], now=NOW, dependencies=DEPS
    )
    assert [(c.kind, c.ci) for c in found] == [(ConflictKind.SAME_CI, "db")]


def test_ids_of_mixed_types_sort_numerically_then_by_text() -> None:
    others = [change("b", {"web"}, 10, 11), change(10, {"web"}, 10, 11), change(9, {"web"}, 10, 11)]
    found = find_conflicts(change(1, {"web"}, 10, 11), others, now=NOW)
    assert [c.other for c in found] == [9, 10, "b"]


def test_default_duration_must_be_positive() -> None:
    with pytest.raises(ValueError, match="default_duration must be positive"):
        find_conflicts(change(1, {"web"}), [], now=NOW, default_duration=timedelta(0))
