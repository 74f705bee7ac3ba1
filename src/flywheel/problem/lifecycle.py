"""The problem state machine (pure): which moves are legal and what closing needs."""

from __future__ import annotations

from enum import StrEnum

from flywheel.errors import Conflict, InvalidInput


class ProblemState(StrEnum):
    """Where a problem is in its life."""

    NEW = "new"
    INVESTIGATING = "investigating"
    KNOWN_ERROR = "known_error"
    FIX_IN_PROGRESS = "fix_in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class RootCauseCategory(StrEnum):
    """Where the root cause lies, which decides where the fix goes."""

    SOFTWARE = "software"
    HARDWARE = "hardware/infrastructure"
    OPERATIONAL = "operational/procedural"
    THIRD_PARTY = "third_party"


class Resolution(StrEnum):
    """How a problem ended."""

    FIXED = "fixed"
    DUPLICATE = "duplicate"
    RISK_ACCEPTED = "risk_accepted"
    CANCELLED = "cancelled"


S = ProblemState
TRANSITIONS: dict[ProblemState, frozenset[ProblemState]] = {
    S.NEW: frozenset({S.INVESTIGATING, S.CLOSED}),
    S.INVESTIGATING: frozenset({S.KNOWN_ERROR, S.FIX_IN_PROGRESS, S.CLOSED}),
    S.KNOWN_ERROR: frozenset({S.FIX_IN_PROGRESS, S.INVESTIGATING, S.CLOSED}),
    S.FIX_IN_PROGRESS: frozenset({S.RESOLVED, S.KNOWN_ERROR, S.CLOSED}),
    # A recurrence after the fix sends the problem back to investigation.
    S.RESOLVED: frozenset({S.CLOSED, S.INVESTIGATING}),
    S.CLOSED: frozenset({S.INVESTIGATING}),
}
ACTIVE_STATES = frozenset(s for s in ProblemState if s is not S.CLOSED)


def check_transition(current: ProblemState, target: ProblemState) -> None:
    """Raise Conflict unless `current → target` is a legal move."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing"
        raise Conflict(
            f"a {current.value} problem cannot move to {target.value} (allowed: {allowed})"
        )


def check_close(current: ProblemState, resolution: Resolution, open_fixes: int) -> None:
    """Raise unless a problem in `current` may close with `resolution`."""
    check_transition(current, S.CLOSED)
    if open_fixes:
        raise Conflict(
            f"the problem has {open_fixes} open fix(es): finish or cancel them before closing"
        )
    if resolution is Resolution.FIXED and current is not S.RESOLVED:
        raise InvalidInput("only a resolved problem (its fix deployed) closes as fixed")
    if resolution is not Resolution.FIXED and current is S.RESOLVED:
        raise InvalidInput("a resolved problem closes as fixed")


def check_route(current: ProblemState, category: RootCauseCategory | None) -> None:
    """Raise unless a problem may have its fix routed now."""
    if category is None:
        raise InvalidInput("record the root-cause category (rca) before routing the fix")
    if current not in (S.INVESTIGATING, S.KNOWN_ERROR, S.FIX_IN_PROGRESS):
        raise Conflict(f"a {current.value} problem has no fix to route")
