"""Error budgets and burn rates: the arithmetic of an objective (pure).

An objective is a percentage (99.99). Its error budget is the share of bad events or
bad time it allows: 1 - objective/100. Counts are good/total events, or good/total time
slices; the same arithmetic serves both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class BudgetError(ValueError):
    """An objective or window the arithmetic cannot work with."""


def check_objective(objective: float) -> float:
    """The objective if it is a percentage strictly between 0 and 100; BudgetError otherwise."""
    if not math.isfinite(objective) or not 0 < objective < 100:
        raise BudgetError(f"an objective must be between 0 and 100 % (exclusive), not {objective}")
    return objective


def budget_fraction(objective: float) -> float:
    """The share of events or time the objective allows to be bad (99.9 → 0.001)."""
    return (100.0 - check_objective(objective)) / 100.0


def allowed_downtime(objective: float, window: timedelta) -> timedelta:
    """The bad time an objective allows over a window (30 days at 99.99 % → 4.32 minutes)."""
    if window <= timedelta(0):
        raise BudgetError("a window must be longer than zero")
    return window * budget_fraction(objective)


@dataclass(frozen=True)
class Counts:
    """Good and total events (or time slices) over some window."""

    good: float
    total: float

    def __post_init__(self) -> None:
        if self.total < 0 or self.good < 0 or self.good > self.total:
            raise BudgetError(f"impossible counts: {self.good} good of {self.total}")

    @property
    def bad(self) -> float:
        """Events or slices that missed the objective."""
        return self.total - self.good

    @property
    def has_data(self) -> bool:
        """Whether anything was counted (no data is not 100 %)."""
        return self.total > 0

    @property
    def ratio(self) -> float | None:
        """Good per total, None without data."""
        return self.good / self.total if self.total else None

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.good + other.good, self.total + other.total)


NO_COUNTS = Counts(0, 0)


def burn_rate(counts: Counts, objective: float) -> float | None:
    """How fast the budget burns: the bad share over the allowed share (1.0 = exactly on budget).

    None when there is no data: a window without events burns nothing we can know of.
    """
    if not counts.has_data:
        return None
    return (counts.bad / counts.total) / budget_fraction(objective)


@dataclass(frozen=True)
class Budget:
    """An objective's error budget over a compliance period."""

    objective: float
    counts: Counts
    allowed_bad: float
    consumed: float
    remaining: float

    @property
    def sli(self) -> float | None:
        """The measured level in percent."""
        ratio = self.counts.ratio
        return None if ratio is None else ratio * 100.0

    @property
    def spent(self) -> bool:
        """Whether the budget is used up (the service is out of its objective)."""
        return self.remaining <= 0


def error_budget(counts: Counts, objective: float, *, planned_total: float | None = None) -> Budget:
    """Budget, consumed and remaining (fractions of the budget) for counts against an objective.

    `planned_total` is the number of slices in the whole period when the budget is fixed in
    advance (a calendar month of time slices); otherwise the budget is a share of what was
    counted. Consumed can exceed 1 and remaining go below 0: the overspend is real.
    """
    if not counts.has_data:
        raise BudgetError("no data: a budget needs at least one counted event or slice")
    total = counts.total if planned_total is None else max(planned_total, counts.total)
    allowed = total * budget_fraction(objective)
    consumed = counts.bad / allowed
    return Budget(objective, counts, allowed, consumed, 1.0 - consumed)


class Severity(StrEnum):
    """How an alert is delivered: wake someone up, or open a ticket."""

    PAGE = "page"
    TICKET = "ticket"


@dataclass(frozen=True)
class BurnRule:
    """Alert when the budget burns at least `burn_rate`x over both windows."""

    severity: Severity
    burn_rate: float
    long_window: timedelta
    short_window: timedelta

    def __post_init__(self) -> None:
        if not math.isfinite(self.burn_rate) or self.burn_rate <= 0:
            raise BudgetError(f"a burn rate must be above zero, not {self.burn_rate}")
        if self.short_window <= timedelta(0) or self.long_window <= timedelta(0):
            raise BudgetError("alert windows must be longer than zero")
        if self.short_window >= self.long_window:
            raise BudgetError("an alert's short window must be shorter than its long window")

    @property
    def budget_share(self) -> float:
        """Share of a 30-day budget this rule lets burn over its long window before firing."""
        return self.burn_rate * (self.long_window / timedelta(days=30))


H, M, D = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)
# The multiwindow, multi-burn-rate alerts of the Google SRE Workbook, "Alerting on SLOs".
DEFAULT_RULES: tuple[BurnRule, ...] = (
    BurnRule(Severity.PAGE, 14.4, 1 * H, 5 * M),
    BurnRule(Severity.PAGE, 6.0, 6 * H, 30 * M),
    BurnRule(Severity.TICKET, 3.0, 1 * D, 2 * H),
    BurnRule(Severity.TICKET, 1.0, 3 * D, 6 * H),
)


class AlertStatus(StrEnum):
    """What a burn-rate rule says now."""

    FIRING = "firing"
    OK = "ok"
    NO_DATA = "no data"


@dataclass(frozen=True)
class AlertState:
    """One rule's verdict with the burn rates it saw."""

    rule: BurnRule
    long_burn: float | None
    short_burn: float | None
    status: AlertStatus

    @property
    def firing(self) -> bool:
        """Whether the rule fires."""
        return self.status is AlertStatus.FIRING


def alert_windows(rules: Iterable[BurnRule]) -> list[timedelta]:
    """Every window the rules need a burn rate for, shortest first."""
    return sorted({w for r in rules for w in (r.long_window, r.short_window)})


def _reaches(burn: float, threshold: float) -> bool:
    # Tolerate float noise: 0.00144 bad of a 0.0001 budget is 14.4x, not 14.399999….
    return burn >= threshold * (1 - 1e-9)


def evaluate_rules(
    rules: Sequence[BurnRule], burn_by_window: Mapping[timedelta, float | None]
) -> list[AlertState]:
    """Each rule fires when both its windows burn at or above its rate; no data never fires."""
    states = []
    for rule in rules:
        long_burn = burn_by_window.get(rule.long_window)
        short_burn = burn_by_window.get(rule.short_window)
        if long_burn is None or short_burn is None:
            status = AlertStatus.NO_DATA
        elif _reaches(long_burn, rule.burn_rate) and _reaches(short_burn, rule.burn_rate):
            status = AlertStatus.FIRING
        else:
            status = AlertStatus.OK
        states.append(AlertState(rule, long_burn, short_burn, status))
    return states
