"""An objective's state from its counts: budget, burn rates and alerts (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from flywheel.slo.budget import (
    AlertState,
    Budget,
    BurnRule,
    Counts,
    alert_windows,
    burn_rate,
    error_budget,
    evaluate_rules,
)
from flywheel.slo.sli import Method, ObjectiveKind
from flywheel.slo.slices import Interval, slice_seconds_total
from flywheel.slo.windows import CompliancePeriod


class Health(StrEnum):
    """An objective's verdict, worst first."""

    BUDGET_SPENT = "budget spent"
    AT_RISK = "at risk"
    OK = "ok"
    NO_DATA = "no data"


_RANK = {Health.BUDGET_SPENT: 0, Health.AT_RISK: 1, Health.OK: 2, Health.NO_DATA: 3}


def worst(healths: Sequence[Health]) -> Health:
    """The worst verdict; no data only when nothing has data."""
    return min(healths, key=_RANK.__getitem__, default=Health.NO_DATA)


@dataclass(frozen=True)
class Burn:
    """Counts and burn rate over one trailing window."""

    window: timedelta
    counts: Counts
    rate: float | None


@dataclass(frozen=True)
class ObjectiveState:
    """Where one objective stands now."""

    kind: ObjectiveKind
    objective: float
    threshold_ms: float | None
    method: Method
    slice_seconds: int
    counts: Counts
    budget: Budget | None
    burns: list[Burn]
    alerts: list[AlertState]
    note: str | None

    @property
    def health(self) -> Health:
        """Budget spent beats an alert firing beats ok; nothing counted is no data."""
        if self.budget is None:
            return Health.NO_DATA
        if self.budget.spent:
            return Health.BUDGET_SPENT
        if any(a.firing for a in self.alerts):
            return Health.AT_RISK
        return Health.OK

    def minutes(self, slices: float) -> float | None:
        """A number of time slices in minutes (None for events)."""
        if self.method is not Method.TIME_SLICES:
            return None
        return slices * self.slice_seconds / 60.0


def windows_to_read(
    period: CompliancePeriod, rules: Sequence[BurnRule], now: datetime
) -> tuple[list[Interval], list[timedelta]]:
    """The compliance period first, then each trailing alert window ending now."""
    trailing = alert_windows(rules)
    return [period.elapsed, *(Interval(now - w, now) for w in trailing)], trailing


def judge(
    *,
    kind: ObjectiveKind,
    objective: float,
    threshold_ms: float | None,
    method: Method,
    slice_seconds: int,
    period: CompliancePeriod,
    rules: Sequence[BurnRule],
    counts: Sequence[Counts],
    trailing: Sequence[timedelta],
    note: str | None,
) -> ObjectiveState:
    """Budget over the period (counts[0]) and burn rates over the trailing windows."""
    period_counts = counts[0]
    planned = None
    if method is Method.TIME_SLICES and period.whole != period.elapsed:
        planned = float(slice_seconds_total(period.whole, slice_seconds))
    budget = (
        error_budget(period_counts, objective, planned_total=planned)
        if period_counts.has_data
        else None
    )
    burns = [
        Burn(window, c, burn_rate(c, objective))
        for window, c in zip(trailing, counts[1:], strict=True)
    ]
    alerts = evaluate_rules(rules, {b.window: b.rate for b in burns})
    return ObjectiveState(
        kind,
        objective,
        threshold_ms,
        method,
        slice_seconds,
        period_counts,
        budget,
        burns,
        alerts,
        note,
    )
