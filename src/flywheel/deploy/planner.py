"""Rolling-bounce planning (pure): batches that never leave fewer than min_up in rotation.

A batch of b instances takes b old instances out of rotation while max_surge extra new
instances may stand in for them, so a batch is allowed when `pool - b + max_surge >= min_up`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from flywheel.cmdb.propagation import MinUp


class PlanError(ValueError):
    """The rollout cannot be planned as asked; the message says why and what to change."""


def resolve_min_up(min_up: str | int | None, pool_size: int) -> int:
    """Instances that must stay in rotation: '4', 4 or '66%' of the pool (rounded up).

    Unset (None or blank) means all but one: a rolling bounce of one instance at a time.
    """
    if pool_size < 0:
        raise PlanError(f"pool size cannot be negative (got {pool_size})")
    try:
        parsed = MinUp.parse(min_up)
    except ValueError as exc:
        raise PlanError(str(exc)) from exc
    if parsed is None:
        return max(pool_size - 1, 0)
    return parsed.required(pool_size)


def _non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"{name} must be a whole number (got {value!r})")
    if value < 0:
        raise PlanError(f"{name} cannot be negative (got {value})")
    return value


def resolve_max_unavailable(max_unavailable: int | str, pool_size: int) -> int:
    """Instances a batch may take down: a count, or a share of the pool (rounded down, >= 1)."""
    if isinstance(max_unavailable, str):
        raw = max_unavailable.strip()
        if raw.endswith("%"):
            try:
                percent = float(raw[:-1].strip())
            except ValueError:
                percent = math.nan
            if not 0 < percent <= 100:
                raise PlanError(
                    f"max_unavailable {max_unavailable!r} must be a share above 0% and up to 100%"
                )
            return max(1, math.floor(round(pool_size * percent / 100, 9)))
        try:
            max_unavailable = int(raw)
        except ValueError:
            raise PlanError(
                f"max_unavailable {max_unavailable!r}: use a count like 2 or a share like 25%"
            ) from None
    count = _non_negative_int("max_unavailable", max_unavailable)
    if count == 0:
        raise PlanError("max_unavailable must be at least 1 (or a share like 25%)")
    return count


def _requested_batch_size(
    batch_size: int | None, max_unavailable: int | str | None, pool_size: int
) -> int | None:
    if batch_size is not None and max_unavailable is not None:
        raise PlanError("give batch_size or max_unavailable, not both")
    if batch_size is not None:
        size = _non_negative_int("batch_size", batch_size)
        if size == 0:
            raise PlanError("batch_size must be at least 1")
        return size
    if max_unavailable is not None:
        return resolve_max_unavailable(max_unavailable, pool_size)
    return None


def plan_batches(
    instances: Sequence[str],
    *,
    min_up: int,
    batch_size: int | None = None,
    max_unavailable: int | str | None = None,
    max_surge: int = 0,
) -> list[list[str]]:
    """Split the pool, in order, into batches that each keep at least min_up in rotation.

    Without batch_size or max_unavailable the batches are as large as min_up allows; a larger
    request is reduced to what min_up allows (min_up always wins).
    """
    pool = list(instances)
    if not pool:
        raise PlanError("the pool has no instances to deploy to")
    duplicates = sorted({name for name in pool if pool.count(name) > 1})
    if duplicates:
        raise PlanError(f"instances listed twice: {', '.join(duplicates)}")
    min_up = _non_negative_int("min_up", min_up)
    max_surge = _non_negative_int("max_surge", max_surge)
    if min_up > len(pool):
        raise PlanError(
            f"min_up {min_up} is more than the pool's {len(pool)} instances: "
            "the pool is already below its minimum"
        )
    allowed = len(pool) + max_surge - min_up
    if allowed <= 0:
        raise PlanError(
            f"a pool of {len(pool)} with min_up {min_up} cannot take any instance out of "
            f"rotation: set max_surge to at least {1 - allowed + max_surge} "
            "(start new instances first) or lower min_up"
        )
    requested = _requested_batch_size(batch_size, max_unavailable, len(pool))
    size = allowed if requested is None else min(requested, allowed)
    return [pool[i : i + size] for i in range(0, len(pool), size)]


def plan_lower_bound_s(
    batches: Sequence[Sequence[str]],
    *,
    drain_s: float,
    start_s: float,
    health_s: float,
    bake_s: float,
) -> float:
    """The least wall time the plan can take: each batch drains, starts, turns healthy, bakes."""
    durations = {"drain_s": drain_s, "start_s": start_s, "health_s": health_s, "bake_s": bake_s}
    for name, value in durations.items():
        if not value >= 0:  # also rejects NaN
            raise PlanError(f"{name} cannot be negative (got {value})")
    per_batch = drain_s + start_s + health_s + bake_s
    return sum(per_batch for batch in batches if batch)
