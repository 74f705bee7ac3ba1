"""The change lifecycle: which state may follow which, per change type (pure)."""

from __future__ import annotations

from enum import StrEnum

from flywheel.errors import Conflict


class ChangeType(StrEnum):
    """ITIL change types."""

    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class State(StrEnum):
    """Where a change is in its life."""

    NEW = "new"
    ASSESS = "assess"
    AUTHORIZE = "authorize"
    SCHEDULED = "scheduled"
    IMPLEMENT = "implement"
    REVIEW = "review"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class CloseCode(StrEnum):
    """How a change ended."""

    SUCCESSFUL = "successful"
    SUCCESSFUL_WITH_ISSUES = "successful_with_issues"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({State.CLOSED, State.REJECTED, State.CANCELLED})
APPROVED_STATES = frozenset({State.SCHEDULED, State.IMPLEMENT, State.REVIEW, State.CLOSED})
_CANCELLABLE = (State.NEW, State.ASSESS, State.AUTHORIZE, State.SCHEDULED)

_S = State
TRANSITIONS: dict[ChangeType, dict[State, frozenset[State]]] = {
    ChangeType.NORMAL: {
        _S.NEW: frozenset({_S.ASSESS, _S.CANCELLED}),
        _S.ASSESS: frozenset({_S.AUTHORIZE, _S.REJECTED, _S.CANCELLED}),
        _S.AUTHORIZE: frozenset({_S.SCHEDULED, _S.REJECTED, _S.CANCELLED}),
        _S.SCHEDULED: frozenset({_S.IMPLEMENT, _S.CANCELLED}),
        _S.IMPLEMENT: frozenset({_S.REVIEW}),
        _S.REVIEW: frozenset({_S.CLOSED}),
    },
    # Pre-approved by its template: no assessment or authorization.
    ChangeType.STANDARD: {
        _S.NEW: frozenset({_S.SCHEDULED, _S.REJECTED, _S.CANCELLED}),
        _S.SCHEDULED: frozenset({_S.IMPLEMENT, _S.CANCELLED}),
        _S.IMPLEMENT: frozenset({_S.CLOSED, _S.REVIEW}),
        _S.REVIEW: frozenset({_S.CLOSED}),
    },
    # Skips assessment; an emergency approver authorizes; review afterwards is mandatory.
    ChangeType.EMERGENCY: {
        _S.NEW: frozenset({_S.AUTHORIZE, _S.CANCELLED}),
        _S.AUTHORIZE: frozenset({_S.SCHEDULED, _S.REJECTED, _S.CANCELLED}),
        _S.SCHEDULED: frozenset({_S.IMPLEMENT, _S.CANCELLED}),
        _S.IMPLEMENT: frozenset({_S.REVIEW}),
        _S.REVIEW: frozenset({_S.CLOSED}),
    },
}


class IllegalTransition(Conflict):
    """A move the lifecycle does not allow; names the moves it does."""

    code = "illegal_transition"


def allowed_next(change_type: ChangeType, state: State) -> frozenset[State]:
    """The states a change of this type may move to from `state`."""
    return TRANSITIONS[change_type].get(state, frozenset())


def check_transition(change_type: ChangeType, state: State, target: State) -> None:
    """Raise IllegalTransition (409) unless `state → target` is legal for the type."""
    allowed = allowed_next(change_type, state)
    if target not in allowed:
        names = ", ".join(sorted(allowed)) or "none: the change is finished"
        raise IllegalTransition(
            f"a {change_type} change cannot go from '{state}' to '{target}' (allowed: {names})",
            details={"state": state.value, "allowed": sorted(allowed)},
        )


def path_to(change_type: ChangeType, state: State, target: State) -> list[State]:
    """The shortest legal sequence of states from `state` to `target` (excluding `state`)."""
    frontier: list[list[State]] = [[state]]
    seen = {state}
    while frontier:
        route = frontier.pop(0)
        for nxt in sorted(allowed_next(change_type, route[-1])):
            if nxt == target:
                return [*route[1:], nxt]
            if nxt not in seen:
                seen.add(nxt)
                frontier.append([*route, nxt])
    check_transition(change_type, state, target)
    return [target]
