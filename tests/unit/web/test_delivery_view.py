"""The four keys in words and the delivery/service-level figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flywheel.delivery import dora
from flywheel.delivery.schemas import keys_out
from flywheel.web import delivery_charts, delivery_view

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def _keys(deployments: int, failed: int, lead: float, days: float = 30.0) -> dora.Keys:
    return dora.Keys(
        days=days,
        deployments=deployments,
        finished=deployments,
        failed=failed,
        lead_time=dora.Spread(10, lead, lead * 2),
        recovery=dora.Spread(failed, 1800.0 if failed else None, 3600.0 if failed else None),
        unrecovered=0,
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (12, "12 s"), (90, "2 min"), (5400, "1.5 h"), (3 * 86400, "3.0 d")],
)
def test_durations_read_as_people_say_them(seconds: float | None, text: str) -> None:
    assert delivery_view.duration(seconds) == text


def test_cards_carry_bands_and_trends_that_know_which_way_is_better() -> None:
    now = keys_out(None, _keys(60, 3, 3600.0))
    before = keys_out(None, _keys(30, 3, 7200.0))
    cards = {c.name: c for c in delivery_view.key_cards(now, before)}
    freq = cards["Deployment frequency"]
    assert (freq.value, freq.band) == ("2.00 / day", "elite")
    assert freq.trend.startswith("▲ 100 %") and freq.better is True
    lead = cards["Lead time for changes"]
    assert lead.value == "1.0 h" and lead.trend.startswith("▼ 50 %") and lead.better is True
    assert cards["Change failure rate"].value == "5.0 %"
    assert cards["Change failure rate"].detail == "3 of 60 deployments failed"
    assert cards["Time to restore"].trend == "unchanged"


def test_cards_without_a_previous_period_or_data_have_no_trend() -> None:
    empty = keys_out(
        None, dora.Keys(30.0, 0, 0, 0, dora.Spread(0, None, None), dora.Spread(0, None, None), 0)
    )
    cards = delivery_view.key_cards(empty)
    assert all(c.trend == "" and c.value == "—" for c in cards)
    assert all(c.band is None for c in cards)


def test_days_are_one_of_the_offered_periods() -> None:
    assert delivery_view.check_days(30) == 30
    with pytest.raises(ValueError, match="days must be one of 7, 30, 90"):
        delivery_view.check_days(12)


def test_samples_cover_the_period_ends_included() -> None:
    found = delivery_view.samples(T0, T0 + timedelta(days=7), 8)
    assert found[0] == T0 and found[-1] == T0 + timedelta(days=7) and len(found) == 8
    assert delivery_view.samples(T0, T0, 8) == [T0]


def test_budget_tones() -> None:
    assert [delivery_view.tone(v) for v in (None, -0.1, 0.1, 0.8)] == [
        "neutral",
        "bad",
        "warn",
        "good",
    ]
    assert delivery_view.budget_left(0.734) == "73 %"


def test_time_to_delivery_is_stacked_by_phase_in_hours() -> None:
    weeks = [(T0, {"development": 7200.0, "approval": 3600.0, "queue": None})]
    fig = delivery_charts.time_to_delivery(weeks)
    assert fig["layout"]["barmode"] == "stack"
    assert fig["layout"]["yaxis"]["title"]["text"] == "hours (mean per change)"
    by_name = {t["name"]: t["y"] for t in fig["data"]}
    assert by_name["development"] == [2.0] and by_name["approval wait"] == [1.0]
    assert by_name["deploy queue"] == [None] and by_name["verification"] == [None]


def test_short_journeys_are_drawn_in_minutes() -> None:
    fig = delivery_charts.time_to_delivery([(T0, {"queue": 600.0, "rollout": 90.0})])
    assert fig["layout"]["yaxis"]["title"]["text"] == "minutes (mean per change)"
    by_name = {t["name"]: t["y"] for t in fig["data"]}
    assert by_name["deploy queue"] == [10.0] and by_name["rollout"] == [1.5]


def test_lagging_behind_puts_the_queue_on_its_own_axis() -> None:
    fig = delivery_charts.lagging_behind([(T0, 10, 7, 3), (T0 + timedelta(days=7), 8, 9, 2)])
    produced, delivered, queue = fig["data"]
    assert produced["y"] == [10, 8] and delivered["y"] == [7, 9]
    assert queue["y"] == [3, 2] and queue["yaxis"] == "y2"


def test_burn_down_has_one_line_per_slo_and_a_zero_line() -> None:
    fig = delivery_charts.budget_burn_down(
        {"availability": [(T0, 1.0), (T0 + timedelta(days=1), 0.25)]}
    )
    (line,) = fig["data"]
    assert line["name"] == "availability" and line["y"] == [1.0, 0.25]
    assert fig["layout"]["shapes"][0]["y0"] == 0
