"""The problem state machine: legal moves, closing rules, routing preconditions."""

from __future__ import annotations

import pytest

from flywheel.errors import Conflict, InvalidInput
from flywheel.problem.lifecycle import (
    ProblemState,
    Resolution,
    RootCauseCategory,
    check_close,
    check_route,
    check_transition,
)

S = ProblemState


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.NEW, S.INVESTIGATING),
        (S.INVESTIGATING, S.KNOWN_ERROR),
        (S.KNOWN_ERROR, S.FIX_IN_PROGRESS),
        (S.FIX_IN_PROGRESS, S.RESOLVED),
        (S.RESOLVED, S.CLOSED),
        (S.RESOLVED, S.INVESTIGATING),
        (S.CLOSED, S.INVESTIGATING),
    ],
)
def test_the_happy_path_and_reopening_are_legal(current: S, target: S) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.NEW, S.RESOLVED), (S.NEW, S.FIX_IN_PROGRESS), (S.CLOSED, S.RESOLVED), (S.RESOLVED, S.NEW)],
)
def test_skipping_ahead_is_a_conflict(current: S, target: S) -> None:
    with pytest.raises(Conflict, match=f"cannot move to {target.value}"):
        check_transition(current, target)


def test_an_open_fix_blocks_closing() -> None:
    with pytest.raises(Conflict, match="1 open fix"):
        check_close(S.FIX_IN_PROGRESS, Resolution.CANCELLED, open_fixes=1)


def test_only_a_resolved_problem_closes_as_fixed() -> None:
    with pytest.raises(InvalidInput, match="only a resolved problem"):
        check_close(S.INVESTIGATING, Resolution.FIXED, open_fixes=0)
    with pytest.raises(InvalidInput, match="closes as fixed"):
        check_close(S.RESOLVED, Resolution.DUPLICATE, open_fixes=0)
    check_close(S.RESOLVED, Resolution.FIXED, open_fixes=0)
    check_close(S.NEW, Resolution.DUPLICATE, open_fixes=0)


def test_routing_needs_a_category_and_an_open_analysis() -> None:
    with pytest.raises(InvalidInput, match="root-cause category"):
        check_route(S.INVESTIGATING, None)
    with pytest.raises(Conflict, match="no fix to route"):
        check_route(S.CLOSED, RootCauseCategory.SOFTWARE)
    check_route(S.KNOWN_ERROR, RootCauseCategory.HARDWARE)
