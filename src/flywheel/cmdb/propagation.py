"""How failures spread upward through the CMDB graph: statuses, pools and min_up."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

MEMBER_OF = "member_of"

OK, DEGRADED, DOWN = 0, 1, 2  # status levels as ints for the walk; order matters


class Status(StrEnum):
    """Health of a CI in a what-if, from best to worst."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def level(self) -> int:
        """0, 1 or 2: comparable severity."""
        return _LEVEL_OF[self]

    @classmethod
    def of_level(cls, level: int) -> Status:
        """The status at a severity level."""
        return _LEVELS[level]


_LEVELS = (Status.OK, Status.DEGRADED, Status.DOWN)
_LEVEL_OF = {status: level for level, status in enumerate(_LEVELS)}


@dataclass(frozen=True)
class MinUp:
    """How many members a pool needs up: a count, or a percentage of its members."""

    count: int | None = None
    percent: float | None = None

    def __post_init__(self) -> None:
        if (self.count is None) == (self.percent is None):
            raise ValueError("min_up needs exactly one of a count or a percentage")
        if self.count is not None and self.count < 0:
            raise ValueError("min_up count cannot be negative")
        if self.percent is not None and not 0 <= self.percent <= 100:
            raise ValueError("min_up percentage must be between 0% and 100%")

    @classmethod
    def parse(cls, text: str | int | None) -> MinUp | None:
        """Read '4', 4 or '66%' (None or blank: unset); ValueError on anything else."""
        if text is None:
            return None
        if isinstance(text, bool):
            raise ValueError(f"invalid min_up {text!r}")
        if isinstance(text, int):
            return cls(count=text)
        raw = text.strip()
        if not raw:
            return None
        try:
            if raw.endswith("%"):
                percent = float(raw[:-1].strip())
                if not math.isfinite(percent):
                    raise ValueError(raw)
                return cls(percent=percent)
            return cls(count=int(raw))
        except ValueError as exc:
            raise ValueError(
                f"invalid min_up {text!r}: use a count like 4 or a share like 66%"
            ) from exc

    def required(self, n_members: int) -> int:
        """Members that must be up, for a pool of n_members (percentages round up)."""
        if self.count is not None:
            return self.count
        assert self.percent is not None
        # round() first so that float noise (e.g. 7.000000000000001) does not add one
        return math.ceil(round(n_members * self.percent / 100, 9))

    def __str__(self) -> str:
        if self.count is not None:
            return str(self.count)
        return f"{self.percent:g}%"


class Rel(NamedTuple):
    """A stored relationship: source needs target."""

    source: int
    rel_type: str
    target: int
    optional: bool


class PoolState:
    """Members of one pool that are down or degraded in the current walk."""

    __slots__ = ("degraded", "down", "min_up", "size")

    def __init__(self, size: int, min_up: int) -> None:
        self.size, self.min_up, self.down, self.degraded = size, min_up, 0, 0

    def level(self) -> int:
        """The pool's status level from its members alone."""
        if self.down == 0 and self.degraded == 0:
            return OK
        return DEGRADED if self.size - self.down >= self.min_up else DOWN

    def redundancy_left(self, level: int) -> int:
        """Members that may still fail before the pool goes down (0 once it is down)."""
        return 0 if level == DOWN else max(self.size - self.down - self.min_up, 0)


@dataclass
class Propagation:
    """The outcome of a walk: every impaired CI's level, why, and pool states."""

    failed: frozenset[int]
    levels: dict[int, int] = field(default_factory=dict)
    parents: dict[int, int] = field(default_factory=dict)
    pools: dict[int, PoolState] = field(default_factory=dict)

    def status(self, ci_id: int) -> Status:
        """The status a CI ends up with."""
        return Status.of_level(self.levels.get(ci_id, OK))

    def path_to(self, ci_id: int) -> list[int]:
        """CI ids from a failed CI up to ci_id, following who raised each status."""
        path = [ci_id]
        while path[-1] not in self.failed:
            path.append(self.parents[path[-1]])
        path.reverse()
        return path

    def redundancy_left(self, ci_id: int) -> int | None:
        """A pool's redundancy left; None for anything that is not a pool."""
        pool = self.pools.get(ci_id)
        return None if pool is None else pool.redundancy_left(self.levels.get(ci_id, OK))


@dataclass
class Adjacency:
    """Relationship ids by CI; `member_of` edges kept apart since they point the other way."""

    rels: dict[int, Rel] = field(default_factory=dict)
    needs: dict[int, list[int]] = field(default_factory=dict)  # source -> rels (not member_of)
    needed_by: dict[int, list[int]] = field(default_factory=dict)  # target -> same rels
    pools_of: dict[int, list[int]] = field(default_factory=dict)  # member -> member_of rels
    members: dict[int, list[int]] = field(default_factory=dict)  # pool -> member_of rels
    member_edges: dict[int, dict[int, int]] = field(default_factory=dict)  # pool -> member -> n

    def add(self, rel_id: int, rel: Rel) -> None:
        """Index a relationship."""
        self.rels[rel_id] = rel
        out, into = self._sides(rel)
        out.setdefault(rel.source, []).append(rel_id)
        into.setdefault(rel.target, []).append(rel_id)
        if rel.rel_type == MEMBER_OF:
            counts = self.member_edges.setdefault(rel.target, {})
            counts[rel.source] = counts.get(rel.source, 0) + 1

    def remove(self, rel_id: int) -> Rel | None:
        """Unindex a relationship; None if unknown."""
        rel = self.rels.pop(rel_id, None)
        if rel is not None:
            out, into = self._sides(rel)
            _unlink(out, rel.source, rel_id)
            _unlink(into, rel.target, rel_id)
            if rel.rel_type == MEMBER_OF:
                self._uncount(rel)
        return rel

    def touching(self, ci_id: int) -> set[int]:
        """Ids of every relationship with ci_id at either end."""
        sides = (self.needs, self.needed_by, self.pools_of, self.members)
        return {rel_id for side in sides for rel_id in side.get(ci_id, ())}

    def member_ids(self, pool_id: int) -> list[int]:
        """Distinct members of a pool."""
        return list(self.member_edges.get(pool_id, ()))

    def pool_size(self, pool_id: int) -> int:
        """Number of distinct members of a pool."""
        return len(self.member_edges.get(pool_id, ()))

    def _uncount(self, rel: Rel) -> None:
        counts = self.member_edges[rel.target]
        counts[rel.source] -= 1
        if not counts[rel.source]:
            del counts[rel.source]
        if not counts:
            del self.member_edges[rel.target]

    def _sides(self, rel: Rel) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
        if rel.rel_type == MEMBER_OF:
            return self.pools_of, self.members
        return self.needs, self.needed_by


def _unlink(adjacency: dict[int, list[int]], ci_id: int, rel_id: int) -> None:
    rel_ids = adjacency[ci_id]
    rel_ids.remove(rel_id)
    if not rel_ids:
        del adjacency[ci_id]


class _Walk:
    """One breadth-first propagation; each CI changes level at most twice."""

    def __init__(
        self,
        failed: Collection[int],
        graph: Adjacency,
        min_up_of: Callable[[int], MinUp | None],
    ) -> None:
        self.graph, self.min_up_of = graph, min_up_of
        self.result = Propagation(failed=frozenset(failed))
        self.queue: deque[tuple[int, int, int]] = deque()

    def run(self) -> Propagation:
        for ci_id in self.result.failed:
            self.result.levels[ci_id] = DOWN
            self.queue.append((ci_id, OK, DOWN))
        while self.queue:
            self._spread(*self.queue.popleft())
        return self.result

    def _spread(self, ci_id: int, old: int, new: int) -> None:
        graph = self.graph
        rels = graph.rels
        soft = min(new, DEGRADED)
        # _raise inlined: this loop runs once per edge walked (thousands for a network CI)
        levels, parents, failed, queue = (
            self.result.levels,
            self.result.parents,
            self.result.failed,
            self.queue,
        )
        for rel_id in graph.needed_by.get(ci_id, ()):
            source, _, _, optional = rels[rel_id]
            level = soft if optional else new
            current = levels.get(source, OK)
            if level > current and source not in failed:
                levels[source] = level
                parents[source] = ci_id
                queue.append((source, current, level))
        if ci_id in graph.members:
            self._pool(ci_id)  # known as a pool, for its redundancy left
        member_of = graph.pools_of.get(ci_id)
        if member_of:
            # a pool failing does not affect its members; members failing affect the pool
            pools = (
                [rels[member_of[0]].target] if len(member_of) == 1 else _targets(member_of, rels)
            )
            for pool_id in pools:
                self._member_changed(pool_id, old, new, ci_id)

    def _member_changed(self, pool_id: int, old: int, new: int, member: int) -> None:
        pool = self._pool(pool_id)
        if old == DEGRADED:
            pool.degraded -= 1
        if new == DEGRADED:
            pool.degraded += 1
        else:
            pool.down += 1
        self._raise(pool_id, pool.level(), member)

    def _raise(self, ci_id: int, level: int, by: int) -> None:
        levels = self.result.levels
        current = levels.get(ci_id, OK)
        if level > current and ci_id not in self.result.failed:
            levels[ci_id] = level
            # the neighbour that set the final level: its chain explains that level
            self.result.parents[ci_id] = by
            self.queue.append((ci_id, current, level))

    def _pool(self, pool_id: int) -> PoolState:
        pool = self.result.pools.get(pool_id)
        if pool is None:
            size = self.graph.pool_size(pool_id)
            min_up = self.min_up_of(pool_id)
            required = 1 if min_up is None else min_up.required(size)
            pool = self.result.pools[pool_id] = PoolState(size, required)
        return pool


def _targets(rel_ids: list[int], rels: dict[int, Rel]) -> set[int]:
    return {rels[r].target for r in rel_ids}


def propagate(
    failed: Collection[int], graph: Adjacency, min_up_of: Callable[[int], MinUp | None]
) -> Propagation:
    """Statuses of every CI reachable upward from the failed set (each failed CI is down)."""
    return _Walk(failed, graph, min_up_of).run()
