"""Error budgets, burn rates and burn-rate alerts against hand-computed values."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flywheel.slo.budget import (
    DEFAULT_RULES,
    AlertStatus,
    BudgetError,
    BurnRule,
    Counts,
    Severity,
    allowed_downtime,
    budget_fraction,
    burn_rate,
    error_budget,
    evaluate_rules,
)

M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


@pytest.mark.parametrize(
    ("objective", "window", "allowed"),
    [
        (99.99, 30 * D, timedelta(minutes=4.32)),  # 43,200 min x 0.0001
        (99.9, 30 * D, timedelta(minutes=43.2)),
        (99.95, 28 * D, timedelta(minutes=20.16)),  # 40,320 min x 0.0005
        (99.5, 7 * D, timedelta(minutes=50.4)),  # 10,080 min x 0.005
        (99.0, 31 * D, timedelta(hours=7.44)),  # 744 h x 0.01
        (90.0, 1 * D, timedelta(hours=2.4)),
    ],
)
def test_allowed_downtime(objective: float, window: timedelta, allowed: timedelta) -> None:
    got = allowed_downtime(objective, window)
    assert abs((got - allowed).total_seconds()) < 1e-6, got


@pytest.mark.parametrize("objective", [0, 100, -1, 100.5, float("nan"), float("inf")])
def test_objectives_outside_zero_and_a_hundred_are_refused(objective: float) -> None:
    with pytest.raises(BudgetError, match="between 0 and 100"):
        budget_fraction(objective)


def test_a_window_of_zero_length_is_refused() -> None:
    with pytest.raises(BudgetError, match="longer than zero"):
        allowed_downtime(99.9, timedelta(0))


@pytest.mark.parametrize(
    ("good", "total", "objective", "planned", "allowed", "consumed", "remaining", "spent"),
    [
        # 1M requests at 99.99 %: 100 may fail; 50 did → half the budget is gone.
        (999_950, 1_000_000, 99.99, None, 100.0, 0.5, 0.5, False),
        # 200 failed: twice the budget, overspent by one whole budget.
        (999_800, 1_000_000, 99.99, None, 100.0, 2.0, -1.0, True),
        # Exactly on budget counts as spent: nothing left to spend.
        (9_990, 10_000, 99.9, None, 10.0, 1.0, 0.0, True),
        (10_000, 10_000, 99.9, None, 10.0, 0.0, 1.0, False),
        # Calendar month of 1-minute slices (30 days = 43,200): 20 days in, 3 bad minutes;
        # the budget is fixed for the month: 4.32 slices, 3 / 4.32 = 0.69444 consumed.
        (28_797, 28_800, 99.99, 43_200, 4.32, 3 / 4.32, 1 - 3 / 4.32, False),
    ],
)
def test_error_budget(
    good: float,
    total: float,
    objective: float,
    planned: float | None,
    allowed: float,
    consumed: float,
    remaining: float,
    spent: bool,
) -> None:
    budget = error_budget(Counts(good, total), objective, planned_total=planned)
    assert budget.allowed_bad == pytest.approx(allowed)
    assert budget.consumed == pytest.approx(consumed)
    assert budget.remaining == pytest.approx(remaining, abs=1e-9)
    assert budget.spent is spent
    assert budget.sli == pytest.approx(good / total * 100)


def test_no_data_has_no_budget_and_no_burn_rate() -> None:
    assert burn_rate(Counts(0, 0), 99.9) is None
    assert Counts(0, 0).ratio is None
    with pytest.raises(BudgetError, match="no data"):
        error_budget(Counts(0, 0), 99.9)


@pytest.mark.parametrize("counts", [(5, 4), (-1, 3), (0, -2)])
def test_impossible_counts_are_refused(counts: tuple[float, float]) -> None:
    with pytest.raises(BudgetError, match="impossible"):
        Counts(*counts)


@pytest.mark.parametrize(
    ("good", "total", "objective", "rate"),
    [
        (9_856, 10_000, 99.9, 14.4),  # 1.44 % bad over a 0.1 % budget
        (9_940, 10_000, 99.9, 6.0),
        (999_700, 1_000_000, 99.99, 3.0),
        (99_990, 100_000, 99.99, 1.0),
        (100, 100, 99.99, 0.0),
        (0, 100, 99.0, 100.0),  # everything failing burns 1/(1 - objective) x at most
    ],
)
def test_burn_rate(good: float, total: float, objective: float, rate: float) -> None:
    assert burn_rate(Counts(good, total), objective) == pytest.approx(rate)


def test_the_default_rules_are_the_workbook_ones() -> None:
    table = [(r.severity, r.burn_rate, r.long_window, r.short_window) for r in DEFAULT_RULES]
    assert table == [
        (Severity.PAGE, 14.4, 1 * H, 5 * M),
        (Severity.PAGE, 6.0, 6 * H, 30 * M),
        (Severity.TICKET, 3.0, 1 * D, 2 * H),
        (Severity.TICKET, 1.0, 3 * D, 6 * H),
    ]
    # 14.4x for an hour burns 2 % of a 30-day budget; 6x for 6 h 5 %; 3x a day 10 %.
    shares = [round(r.budget_share, 4) for r in DEFAULT_RULES]
    assert shares == [0.02, 0.05, 0.1, 0.1]


# burn rates by window: 5m, 30m, 1h, 2h, 6h, 1d, 3d
Rates = tuple[float | None, ...]
WINDOWS = (5 * M, 30 * M, 1 * H, 2 * H, 6 * H, 1 * D, 3 * D)


@pytest.mark.parametrize(
    ("rates", "expected"),
    [
        # A fast burn: both page windows of the first rule at 14.4x or more.
        ((20, 15, 14.4, 9, 7, 3, 1), ["firing", "firing", "firing", "firing"]),
        # Long window high but the short one has recovered: no page (reset quickly).
        ((2, 2, 15, 5, 7, 3, 1), ["ok", "ok", "firing", "firing"]),
        # Short window spiking alone does not page.
        ((50, 5, 10, 1, 1, 0.5, 0.4), ["ok", "ok", "ok", "ok"]),
        # Slow burn: only the 3-day ticket.
        ((1.2, 1.1, 1.1, 1.1, 1.0, 1.0, 1.0), ["ok", "ok", "ok", "firing"]),
        # No data in the 5-minute window: that rule says so and does not fire.
        ((None, 7, 20, 4, 6, 1, 1), ["no data", "firing", "ok", "firing"]),
        ((None,) * 7, ["no data"] * 4),
    ],
)
def test_multiwindow_multi_burn_rate_alerts(rates: Rates, expected: list[str]) -> None:
    states = evaluate_rules(DEFAULT_RULES, dict(zip(WINDOWS, rates, strict=True)))
    assert [s.status.value for s in states] == expected
    assert [s.firing for s in states] == [e == AlertStatus.FIRING for e in expected]


def test_threshold_reached_exactly_fires_despite_float_noise() -> None:
    rule = BurnRule(Severity.PAGE, 14.4, 1 * H, 5 * M)
    rate = burn_rate(Counts(9_856, 10_000), 99.9)
    assert rate is not None
    state = evaluate_rules([rule], {1 * H: rate, 5 * M: rate})[0]
    assert state.firing


@pytest.mark.parametrize(
    ("rate", "long", "short", "message"),
    [
        (0, 1 * H, 5 * M, "above zero"),
        (2, 5 * M, 1 * H, "shorter than its long"),
        (2, 1 * H, timedelta(0), "longer than zero"),
    ],
)
def test_bad_rules_are_refused(
    rate: float, long: timedelta, short: timedelta, message: str
) -> None:
    with pytest.raises(BudgetError, match=message):
        BurnRule(Severity.TICKET, rate, long, short)
