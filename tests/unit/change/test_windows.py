"""Change windows: intervals, one-off and recurring windows, DST, validation, scope, calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from flywheel.change.windows import (
    Interval,
    Scope,
    ScopeKind,
    Window,
    WindowError,
    WindowKind,
    calendar,
    can_override,
    in_scope,
    is_active,
    occurrences,
    overlaps,
    parse_duration,
    parse_window,
)

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)


def utc(*args: int) -> datetime:
    """A UTC datetime."""
    return datetime(*args, tzinfo=UTC)


def span(start: datetime, hours: float) -> Interval:
    """An interval of some hours."""
    return Interval.of(start, timedelta(hours=hours))


def one_off(name: str = "freeze", kind: str = "blackout", **kw: object) -> Window:
    """A one-off window, 2026-06-01 10:00-12:00 UTC unless told otherwise."""
    fields: dict[str, object] = {"start": utc(2026, 6, 1, 10), "end": utc(2026, 6, 1, 12)}
    return parse_window(name=name, kind=kind, **(fields | kw))  # type: ignore[arg-type]


def friday_berlin(**kw: object) -> Window:
    """Every Friday 16:00-18:00 Berlin time."""
    fields: dict[str, object] = {
        "rrule": "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0",
        "dtstart": datetime(2026, 1, 2, 16, 0),
        "duration": "2h",
        "timezone": "Europe/Berlin",
    }
    return parse_window(name="friday", kind="blackout", **(fields | kw))  # type: ignore[arg-type]


# --- intervals and one-off windows -------------------------------------------------------


def test_touching_intervals_do_not_overlap() -> None:
    a, b = span(utc(2026, 1, 1, 10), 1), span(utc(2026, 1, 1, 11), 1)
    assert not a.intersects(b)
    assert a.overlap(b) is None
    assert b.overlap(a) is None


def test_partial_and_contained_overlap() -> None:
    big = span(utc(2026, 1, 1, 10), 4)
    assert big.overlap(span(utc(2026, 1, 1, 13), 2)) == span(utc(2026, 1, 1, 13), 1)
    inner = span(utc(2026, 1, 1, 11), 1)
    assert big.overlap(inner) == inner
    assert big.contains(inner)
    assert not inner.contains(big)


def test_interval_is_kept_in_utc_and_compares_by_instant() -> None:
    local = Interval(
        datetime(2026, 7, 1, 12, tzinfo=BERLIN), datetime(2026, 7, 1, 13, tzinfo=BERLIN)
    )
    assert local.start.tzinfo is UTC
    assert local == span(utc(2026, 7, 1, 10), 1)


def test_one_off_occurrence_edges() -> None:
    window = one_off()
    assert occurrences(window, utc(2026, 6, 1, 12), utc(2026, 6, 1, 14)) == []  # touches end
    assert occurrences(window, utc(2026, 6, 1, 8), utc(2026, 6, 1, 10)) == []  # touches start
    inside = occurrences(window, utc(2026, 6, 1, 11), utc(2026, 6, 1, 11, 30))
    assert inside == [span(utc(2026, 6, 1, 10), 2)]  # whole occurrence, not clipped


def test_overlaps_returns_the_clipped_part() -> None:
    window = one_off()
    assert overlaps(window, span(utc(2026, 6, 1, 11), 3)) == span(utc(2026, 6, 1, 11), 1)
    assert overlaps(window, span(utc(2026, 6, 1, 9), 6)) == span(utc(2026, 6, 1, 10), 2)
    assert overlaps(window, span(utc(2026, 6, 1, 12), 1)) is None


def test_is_active_is_start_inclusive_end_exclusive() -> None:
    window = one_off()
    assert is_active(window, utc(2026, 6, 1, 10))
    assert is_active(window, utc(2026, 6, 1, 11, 59, 59))
    assert not is_active(window, utc(2026, 6, 1, 12))
    assert not is_active(window, utc(2026, 6, 1, 9, 59))


# --- recurring windows ---------------------------------------------------------------------


def test_weekly_window_keeps_local_hours_across_spring_dst() -> None:
    found = occurrences(friday_berlin(), utc(2026, 3, 20), utc(2026, 4, 11))
    assert [o.start for o in found] == [
        utc(2026, 3, 20, 15),
        utc(2026, 3, 27, 15),
        utc(2026, 4, 3, 14),
        utc(2026, 4, 10, 14),
    ]
    assert {(o.start.astimezone(BERLIN).hour, o.end.astimezone(BERLIN).hour) for o in found} == {
        (16, 18)
    }


def test_weekly_window_keeps_local_hours_across_autumn_dst() -> None:
    found = occurrences(friday_berlin(), utc(2026, 10, 20), utc(2026, 11, 1))
    assert [o.start for o in found] == [utc(2026, 10, 23, 14), utc(2026, 10, 30, 15)]
    assert all(o.start.astimezone(BERLIN).hour == 16 for o in found)


def test_duration_is_wall_clock_over_the_dst_night() -> None:
    night = parse_window(
        name="night",
        kind="maintenance",
        rrule="FREQ=DAILY;BYHOUR=1;BYMINUTE=0",
        dtstart=datetime(2026, 3, 1, 1),
        duration="3h",
        timezone="Europe/Berlin",
    )
    (occ,) = occurrences(night, utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 0, 31))
    assert occ.start.astimezone(BERLIN).hour == 1
    assert occ.end.astimezone(BERLIN).hour == 4  # 01:00 CET to 04:00 CEST
    assert occ.duration == timedelta(hours=2)  # one hour fewer really elapses


def test_start_in_the_spring_gap_moves_forward() -> None:
    gap = parse_window(
        name="gap",
        kind="maintenance",
        rrule="FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
        dtstart=datetime(2026, 3, 1, 2, 30),
        duration="1h",
        timezone="Europe/Berlin",
    )
    (occ,) = occurrences(gap, utc(2026, 3, 29), utc(2026, 3, 29, 3))
    assert occ.start == utc(2026, 3, 29, 1, 30)  # 03:30 CEST: 02:30 does not exist that day
    assert occ.duration == H


def test_monthly_first_saturday() -> None:
    monthly = parse_window(
        name="patch",
        kind="maintenance",
        rrule="FREQ=MONTHLY;BYDAY=1SA;BYHOUR=22",
        dtstart=utc(2026, 1, 1, 22),
        duration=240,
    )
    found = occurrences(monthly, utc(2026, 1, 1), utc(2026, 5, 1))
    assert [o.start.date().isoformat() for o in found] == [
        "2026-01-03",
        "2026-02-07",
        "2026-03-07",
        "2026-04-04",
    ]
    assert all(o.duration == timedelta(hours=4) for o in found)


def test_monthly_last_day_of_month() -> None:
    monthly = parse_window(
        name="month-end",
        kind="blackout",
        rrule="FREQ=MONTHLY;BYMONTHDAY=-1",
        dtstart=utc(2026, 1, 31),
        duration="1d",
    )
    found = occurrences(monthly, utc(2026, 1, 1), utc(2026, 4, 1))
    assert [o.start.day for o in found] == [31, 28, 31]


def test_unbounded_rule_is_bounded_by_the_query_range() -> None:
    weekly = parse_window(
        name="weekly",
        kind="maintenance",
        rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=3",
        dtstart=utc(2020, 1, 5, 3),
        duration="2h",
    )
    found = occurrences(weekly, utc(2030, 1, 1), utc(2031, 1, 1))
    assert len(found) == 52
    assert found[0].start == utc(2030, 1, 6, 3)
    assert found[-1].start == utc(2030, 12, 29, 3)
    assert found == sorted(found)


def test_occurrence_started_before_the_range_is_included_whole() -> None:
    found = occurrences(friday_berlin(), utc(2026, 1, 9, 16), utc(2026, 1, 9, 20))
    assert found == [span(utc(2026, 1, 9, 15), 2)]


def test_count_and_until_end_a_rule() -> None:
    counted = friday_berlin(rrule="FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;COUNT=3")
    assert len(occurrences(counted, utc(2026, 1, 1), utc(2027, 1, 1))) == 3
    until = friday_berlin(rrule="FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;UNTIL=20260201T000000Z")
    assert len(occurrences(until, utc(2026, 1, 1), utc(2027, 1, 1))) == 5


def test_recurring_is_active() -> None:
    window = friday_berlin()
    assert is_active(window, datetime(2026, 7, 3, 17, tzinfo=BERLIN))
    assert not is_active(window, datetime(2026, 7, 3, 18, tzinfo=BERLIN))
    assert not is_active(window, datetime(2026, 7, 2, 17, tzinfo=BERLIN))


# --- validation ----------------------------------------------------------------------------

BAD_WINDOWS: list[tuple[dict[str, object], str]] = [
    ({"end": utc(2026, 6, 1, 9)}, "end .* must be after start"),
    ({"end": utc(2026, 6, 1, 10)}, "end .* must be after start"),
    ({"start": datetime(2026, 6, 1, 10)}, "start must be timezone-aware"),
    ({"start": "yesterday"}, "start is not an ISO 8601 datetime"),
    ({"end": None}, "one-off window needs start and end"),
    ({"kind": "freeze"}, "unknown kind 'freeze'; expected one of: blackout, maintenance"),
    ({"name": " "}, "name must not be empty"),
    ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
    ({"kind": "maintenance", "override_roles": ["sre"]}, "override_roles apply only to blackout"),
    ({"scope": "team:x"}, "unknown scope 'team'"),
    ({"scope": "service:"}, "scope 'service' needs a key"),
    ({"scope": "service:shop", "include_dependents": True}, "include_dependents applies only"),
    ({"duration": "2h"}, "dtstart and duration belong to recurring windows"),
]

BAD_RECURRING: list[tuple[dict[str, object], str]] = [
    ({"rrule": "FREQ=WEKLY"}, "FREQ must be one of HOURLY, .*, got WEKLY"),
    ({"rrule": "FREQ=WEEKLY;BYHOUR=25"}, "bad RRULE .*hour must be in 0..23"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "invalid 'BYDAY': XX"),
    ({"rrule": "BYDAY=FR"}, "FREQ is required"),
    ({"rrule": "  "}, "RRULE is empty"),
    ({"rrule": "FREQ=MINUTELY"}, "FREQ must be one of HOURLY"),
    ({"rrule": "FREQ=DAILY;INTERVAL=0"}, "INTERVAL must be a positive integer"),
    ({"rrule": "FREQ=DAILY;COUNT=2;UNTIL=20270101T000000Z"}, "COUNT or UNTIL, not both"),
    ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "never produces an occurrence"),
    ({"rrule": "DTSTART:20260101T000000\nRRULE:FREQ=DAILY"}, "give its start as dtstart"),
    ({"duration": timedelta(0)}, "duration must be positive"),
    ({"duration": timedelta(minutes=-5)}, "duration must be positive"),
    ({"duration": "soon"}, "bad duration 'soon'"),
    ({"timezone": "Europe/Atlantis"}, "unknown timezone"),
    ({"start": utc(2026, 1, 2), "dtstart": utc(2026, 1, 2)}, "not start/end"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_WINDOWS)
def test_invalid_one_off_windows(fields: dict[str, object], message: str) -> None:
    with pytest.raises(WindowError, match=message):
        one_off(**fields)


@pytest.mark.parametrize(("fields", "message"), BAD_RECURRING)
def test_invalid_recurring_windows(fields: dict[str, object], message: str) -> None:
    with pytest.raises(WindowError, match=message):
        friday_berlin(**fields)


def test_error_names_the_window_and_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^window 'freeze': end "):
        one_off(end=utc(2026, 6, 1, 9))


def test_recurring_window_needs_duration() -> None:
    with pytest.raises(WindowError, match="needs dtstart and duration"):
        Window("w", WindowKind.BLACKOUT, rrule="FREQ=DAILY", dtstart=utc(2026, 1, 1))


def test_query_range_must_be_ordered() -> None:
    with pytest.raises(WindowError, match="must be after start"):
        occurrences(one_off(), utc(2026, 2, 1), utc(2026, 1, 1))


# --- loose input, scope, break glass, calendar ---------------------------------------------


def test_parse_window_from_table_like_input() -> None:
    window = parse_window(
        name="fri",
        kind="blackout",
        scope="ci",
        scope_key="db-1",
        include_dependents=True,
        start="2026-01-02T16:00:00",
        rrule="RRULE:FREQ=WEEKLY;BYDAY=FR",
        duration=120,
        timezone="Europe/Berlin",
        override_roles=["sre-lead"],
    )
    assert window.scope == Scope(ScopeKind.CI, "db-1", include_dependents=True)
    assert str(window.scope) == "ci:db-1+dependents"
    assert window.start is None
    assert window.dtstart == datetime(2026, 1, 2, 16, tzinfo=BERLIN)  # start became dtstart
    assert window.rrule == "FREQ=WEEKLY;BYDAY=FR"
    assert window.duration == timedelta(hours=2)
    assert window.recurring


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", 2 * H),
        ("90m", timedelta(minutes=90)),
        ("1d2h30m", timedelta(hours=26.5)),
        (15, 0.25 * H),
    ],
)
def test_parse_duration(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_break_glass_roles() -> None:
    freeze = one_off(override_roles=["sre-lead", "cto"])
    assert can_override(freeze, ["developer", "sre-lead"])
    assert can_override(freeze, {"cto"})
    assert not can_override(freeze, ["developer"])
    assert not can_override(freeze, [])
    assert not can_override(one_off(), ["sre-lead"])  # no roles named: nobody
    assert not can_override(one_off(kind="maintenance"), ["sre-lead"])


def test_in_scope_uses_the_resolver_for_ci_and_service_scopes() -> None:
    everywhere = one_off("all")
    shop = one_off("shop", scope="service:shop")
    db = one_off("db", scope=Scope(ScopeKind.CI, "db", include_dependents=True))
    other = one_off("other", scope="ci:cache")
    covers = {"db": {"db", "api"}, "cache": {"cache"}, "shop": {"web"}}

    def covered(scope: Scope) -> set[str]:
        return covers[scope.key or ""]

    picked = in_scope(
        [everywhere, shop, db, other], service="api", ci_keys={"api"}, covered=covered
    )
    assert [w.name for w in picked] == ["all", "db"]
    by_service = in_scope([shop, other], service="shop", ci_keys=set(), covered=covered)
    assert [w.name for w in by_service] == ["shop"]
    by_ci = in_scope([shop], service=None, ci_keys={"web"}, covered=covered)
    assert [w.name for w in by_ci] == ["shop"]


def test_calendar_sorts_windows_by_start_then_name() -> None:
    weekly = friday_berlin()
    b = one_off("b", start=utc(2026, 1, 9, 15), end=utc(2026, 1, 9, 16))
    a = one_off("a", start=utc(2026, 1, 9, 15), end=utc(2026, 1, 9, 16))
    early = one_off("early", start=utc(2026, 1, 5), end=utc(2026, 1, 6))
    found = calendar([weekly, b, a, early], utc(2026, 1, 1), utc(2026, 1, 12))
    assert [(o.window.name, o.interval.start) for o in found] == [
        ("friday", utc(2026, 1, 2, 15)),
        ("early", utc(2026, 1, 5)),
        ("a", utc(2026, 1, 9, 15)),
        ("b", utc(2026, 1, 9, 15)),
        ("friday", utc(2026, 1, 9, 15)),
    ]
