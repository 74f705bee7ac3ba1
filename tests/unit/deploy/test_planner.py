"""The rolling-bounce planner: batch arithmetic, min_up, surge and the plans it refuses."""

from __future__ import annotations

import math
from typing import Any

import pytest

from flywheel.deploy.planner import (
    PlanError,
    plan_batches,
    plan_lower_bound_s,
    resolve_max_unavailable,
    resolve_min_up,
)

SIX = ["i1", "i2", "i3", "i4", "i5", "i6"]


def sizes(batches: list[list[str]]) -> list[int]:
    return [len(b) for b in batches]


@pytest.mark.parametrize(
    ("pool", "kwargs", "expected"),
    [
        # one at a time when min_up leaves room for only one
        (SIX, {"min_up": 5}, [1, 1, 1, 1, 1, 1]),
        # as large as min_up allows by default
        (SIX, {"min_up": 3}, [3, 3]),
        (SIX, {"min_up": 4}, [2, 2, 2]),
        (SIX, {"min_up": 2}, [4, 2]),
        (SIX, {"min_up": 0}, [6]),
        # batch_size asks for less than allowed
        (SIX, {"min_up": 0, "batch_size": 4}, [4, 2]),
        (SIX, {"min_up": 3, "batch_size": 2}, [2, 2, 2]),
        # batch_size asks for more than min_up allows: min_up wins
        (SIX, {"min_up": 5, "batch_size": 3}, [1, 1, 1, 1, 1, 1]),
        (SIX, {"min_up": 4, "batch_size": 6}, [2, 2, 2]),
        # max_unavailable as a count and a share (rounded down, at least one)
        (SIX, {"min_up": 0, "max_unavailable": 2}, [2, 2, 2]),
        (SIX, {"min_up": 0, "max_unavailable": "2"}, [2, 2, 2]),
        (SIX, {"min_up": 0, "max_unavailable": "50%"}, [3, 3]),
        (SIX, {"min_up": 0, "max_unavailable": "25%"}, [1, 1, 1, 1, 1, 1]),
        (SIX, {"min_up": 0, "max_unavailable": "34%"}, [2, 2, 2]),
        (SIX, {"min_up": 0, "max_unavailable": "100%"}, [6]),
        (SIX, {"min_up": 0, "max_unavailable": " 10 % "}, [1, 1, 1, 1, 1, 1]),
        (SIX, {"min_up": 5, "max_unavailable": "50%"}, [1, 1, 1, 1, 1, 1]),
        # surge: new instances stand in for the ones taken out
        (SIX, {"min_up": 6, "max_surge": 1}, [1, 1, 1, 1, 1, 1]),
        (SIX, {"min_up": 6, "max_surge": 2}, [2, 2, 2]),
        (SIX, {"min_up": 5, "max_surge": 1}, [2, 2, 2]),
        (SIX, {"min_up": 6, "max_surge": 3, "batch_size": 1}, [1, 1, 1, 1, 1, 1]),
        (SIX, {"min_up": 6, "max_surge": 10}, [6]),
        # pools of one and two
        (["solo"], {"min_up": 0}, [1]),
        (["solo"], {"min_up": 1, "max_surge": 1}, [1]),
        (["a", "b"], {"min_up": 1}, [1, 1]),
        (["a", "b"], {"min_up": 2, "max_surge": 1}, [1, 1]),
        (["a", "b"], {"min_up": 1, "batch_size": 1}, [1, 1]),
        # uneven last batch
        (["a", "b", "c", "d", "e"], {"min_up": 3}, [2, 2, 1]),
    ],
)
def test_batch_sizes(pool: list[str], kwargs: dict[str, Any], expected: list[int]) -> None:
    batches = plan_batches(pool, **kwargs)
    assert sizes(batches) == expected
    assert [name for batch in batches for name in batch] == pool  # every instance once, in order
    surge = kwargs.get("max_surge", 0)
    for batch in batches:
        assert len(pool) - len(batch) + surge >= kwargs["min_up"]


def test_batches_keep_the_pool_order() -> None:
    assert plan_batches(["c", "a", "b"], min_up=1) == [["c", "a"], ["b"]]


@pytest.mark.parametrize(
    ("pool", "kwargs", "message"),
    [
        (["solo"], {"min_up": 1}, "set max_surge to at least 1"),
        (SIX, {"min_up": 6}, "set max_surge to at least 1"),
        (SIX, {"min_up": 6, "batch_size": 1}, "cannot take any instance out of rotation"),
        (SIX, {"min_up": 7}, "min_up 7 is more than the pool's 6 instances"),
        (SIX, {"min_up": 7, "max_surge": 3}, "already below its minimum"),
        ([], {"min_up": 0}, "no instances"),
        (["a", "b", "a"], {"min_up": 0}, "listed twice: a"),
        (SIX, {"min_up": -1}, "min_up cannot be negative"),
        (SIX, {"min_up": 1, "max_surge": -1}, "max_surge cannot be negative"),
        (SIX, {"min_up": 1, "batch_size": 0}, "batch_size must be at least 1"),
        (SIX, {"min_up": 1, "batch_size": -2}, "batch_size cannot be negative"),
        (SIX, {"min_up": 1, "batch_size": 1.5}, "batch_size must be a whole number"),
        (SIX, {"min_up": 1, "batch_size": True}, "batch_size must be a whole number"),
        (SIX, {"min_up": 1, "batch_size": 2, "max_unavailable": 2}, "not both"),
        (SIX, {"min_up": 1, "max_unavailable": 0}, "at least 1"),
        (SIX, {"min_up": 1, "max_unavailable": "0%"}, "above 0%"),
        (SIX, {"min_up": 1, "max_unavailable": "101%"}, "up to 100%"),
        (SIX, {"min_up": 1, "max_unavailable": "-5%"}, "above 0%"),
        (SIX, {"min_up": 1, "max_unavailable": "abc%"}, "above 0%"),
        (SIX, {"min_up": 1, "max_unavailable": "nan%"}, "above 0%"),
        (SIX, {"min_up": 1, "max_unavailable": "two"}, "use a count like 2"),
    ],
)
def test_impossible_or_invalid_plans(pool: list[str], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan_batches(pool, **kwargs)


def test_plan_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="max_surge"):
        plan_batches(["solo"], min_up=1)


@pytest.mark.parametrize(
    ("min_up", "pool_size", "expected"),
    [
        (4, 6, 4),
        ("4", 6, 4),
        (" 4 ", 6, 4),
        ("66%", 6, 4),  # 3.96 rounds up
        ("50%", 6, 3),
        ("50%", 5, 3),  # 2.5 rounds up
        ("100%", 6, 6),
        ("0%", 6, 0),
        ("70%", 10, 7),  # float noise (7.000000000000001) does not add one
        (0, 6, 0),
        (None, 6, 5),  # unset: all but one
        ("", 6, 5),
        (None, 1, 0),
        (None, 0, 0),
        ("66%", 1, 1),
    ],
)
def test_resolve_min_up(min_up: str | int | None, pool_size: int, expected: int) -> None:
    assert resolve_min_up(min_up, pool_size) == expected


@pytest.mark.parametrize(
    ("min_up", "message"),
    [
        ("four", "invalid min_up"),
        ("150%", "invalid min_up '150%'"),
        ("-1", "invalid min_up '-1'"),
        (-3, "cannot be negative"),
        ("inf%", "invalid min_up"),
    ],
)
def test_resolve_min_up_rejects(min_up: str | int, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        resolve_min_up(min_up, 6)


def test_resolve_min_up_rejects_a_negative_pool() -> None:
    with pytest.raises(PlanError, match="pool size"):
        resolve_min_up(1, -1)


@pytest.mark.parametrize(
    ("value", "pool_size", "expected"),
    [(3, 6, 3), ("3", 6, 3), ("25%", 8, 2), ("25%", 7, 1), ("1%", 3, 1), ("100%", 3, 3)],
)
def test_resolve_max_unavailable(value: int | str, pool_size: int, expected: int) -> None:
    assert resolve_max_unavailable(value, pool_size) == expected


def test_min_up_percentage_feeds_the_plan() -> None:
    pool = [f"i{n}" for n in range(1, 11)]
    min_up = resolve_min_up("75%", len(pool))  # 7.5 -> 8
    assert min_up == 8
    assert sizes(plan_batches(pool, min_up=min_up)) == [2, 2, 2, 2, 2]


def test_lower_bound_sums_every_batch() -> None:
    batches = plan_batches(SIX, min_up=4)  # three batches
    bound = plan_lower_bound_s(batches, drain_s=1.0, start_s=0.5, health_s=0.25, bake_s=2.0)
    assert bound == pytest.approx(3 * 3.75)


def test_lower_bound_of_an_empty_plan_is_zero() -> None:
    assert plan_lower_bound_s([], drain_s=1, start_s=1, health_s=1, bake_s=1) == 0


@pytest.mark.parametrize("field", ["drain_s", "start_s", "health_s", "bake_s"])
@pytest.mark.parametrize("bad", [-1.0, math.nan])
def test_lower_bound_rejects_negative_durations(field: str, bad: float) -> None:
    durations = {"drain_s": 1.0, "start_s": 1.0, "health_s": 1.0, "bake_s": 1.0, field: bad}
    with pytest.raises(PlanError, match=field):
        plan_lower_bound_s([["a"]], **durations)
