"""Every legal and illegal transition of the change lifecycle."""

from __future__ import annotations

import itertools

import pytest

from flywheel.change.lifecycle import (
    FINAL_STATES,
    TRANSITIONS,
    ChangeType,
    IllegalTransition,
    State,
    allowed_next,
    check_transition,
    path_to,
)

LEGAL = {
    ChangeType.NORMAL: {
        ("new", "assess"), ("new", "cancelled"),
        ("assess", "authorize"), ("assess", "rejected"), ("assess", "cancelled"),
        ("authorize", "scheduled"), ("authorize", "rejected"), ("authorize", "cancelled"),
        ("scheduled", "implement"), ("scheduled", "cancelled"),
        ("implement", "review"), ("review", "closed"),
    },
    ChangeType.STANDARD: {
        ("new", "scheduled"), ("new", "rejected"), ("new", "cancelled"),
        ("scheduled", "implement"), ("scheduled", "cancelled"),
        ("implement", "closed"), ("implement", "review"), ("review", "closed"),
    },
    ChangeType.EMERGENCY: {
        ("new", "authorize"), ("new", "cancelled"),
        ("authorize", "scheduled"), ("authorize", "rejected"), ("authorize", "cancelled"),
        ("scheduled", "implement"), ("scheduled", "cancelled"),
        ("implement", "review"), ("review", "closed"),
    },
}  # fmt: skip

ALL_PAIRS = [(t, a, b) for t in ChangeType for a, b in itertools.product(State, State)]


@pytest.mark.parametrize(("change_type", "source", "target"), ALL_PAIRS)
def test_every_pair_is_legal_exactly_when_listed(
    change_type: ChangeType, source: State, target: State
) -> None:
    legal = (source.value, target.value) in LEGAL[change_type]
    if legal:
        check_transition(change_type, source, target)
    else:
        with pytest.raises(IllegalTransition) as caught:
            check_transition(change_type, source, target)
        assert caught.value.status_code == 409
        assert caught.value.details["allowed"] == sorted(allowed_next(change_type, source))


def test_final_states_lead_nowhere() -> None:
    for change_type, state in itertools.product(ChangeType, FINAL_STATES):
        assert allowed_next(change_type, state) == frozenset()
    with pytest.raises(IllegalTransition, match="finished"):
        check_transition(ChangeType.NORMAL, State.CLOSED, State.NEW)


def test_emergency_skips_assess_and_must_be_reviewed() -> None:
    assert State.ASSESS not in allowed_next(ChangeType.EMERGENCY, State.NEW)
    assert allowed_next(ChangeType.EMERGENCY, State.IMPLEMENT) == {State.REVIEW}


def test_standard_goes_straight_to_scheduled() -> None:
    assert path_to(ChangeType.STANDARD, State.NEW, State.SCHEDULED) == [State.SCHEDULED]


def test_path_to_walks_the_normal_lifecycle() -> None:
    assert path_to(ChangeType.NORMAL, State.NEW, State.SCHEDULED) == [
        State.ASSESS,
        State.AUTHORIZE,
        State.SCHEDULED,
    ]
    assert path_to(ChangeType.NORMAL, State.NEW, State.CLOSED)[-2:] == [State.REVIEW, State.CLOSED]
    with pytest.raises(IllegalTransition):
        path_to(ChangeType.NORMAL, State.CLOSED, State.SCHEDULED)


def test_the_table_names_only_known_states() -> None:
    for table in TRANSITIONS.values():
        for source, targets in table.items():
            assert isinstance(source, State)
            assert all(isinstance(t, State) for t in targets)
