"""Verification of a fix (pure): when a problem resolves, closes, or is reopened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from flywheel.problem.lifecycle import ProblemState


class Verdict(StrEnum):
    """What the verification sweep does to a problem."""

    NOTHING = "nothing"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"


@dataclass(frozen=True)
class FixStatus:
    """The state of a problem's fixes."""

    total: int
    open: int
    done: int


def verdict(
    state: ProblemState,
    fixes: FixStatus,
    *,
    resolved_at: datetime | None,
    last_recurrence: datetime | None,
    now: datetime,
    quiet_period: timedelta,
) -> Verdict:
    """Resolve when every fix is done; close after a quiet period; reopen on recurrence."""
    if state is ProblemState.FIX_IN_PROGRESS:
        if fixes.total and not fixes.open and fixes.done:
            return Verdict.RESOLVE
        return Verdict.NOTHING
    if state is ProblemState.RESOLVED and resolved_at is not None:
        if last_recurrence is not None and last_recurrence > resolved_at:
            return Verdict.REOPEN
        if now - resolved_at >= quiet_period:
            return Verdict.CLOSE
    return Verdict.NOTHING
