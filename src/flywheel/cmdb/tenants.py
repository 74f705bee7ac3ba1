"""Compact tenant index: which business services each tenant uses, as rows of bitmasks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

Int64Array = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_BIT_BITS = 20  # up to ~1M business services
_BIT_MASK = (1 << _BIT_BITS) - 1
_ONE = np.uint64(1)


class IdTable:
    """Map integer ids to non-negative ints: a dense numpy array, a dict for outlying ids."""

    def __init__(self) -> None:
        self._dense: Int64Array = np.full(1024, -1, dtype=np.int64)
        self._sparse: dict[int, int] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def get(self, key: int) -> int | None:
        """The value stored for key, or None."""
        dense = self._dense
        if 0 <= key < len(dense):
            value: int = dense.item(key)
            return None if value < 0 else value
        return self._sparse.get(key)

    def set(self, key: int, value: int) -> None:
        """Store value (>= 0) for key."""
        if self.get(key) is None:
            self._count += 1
        if key >= len(self._dense) and key < 4 * (self._count + (1 << 16)):
            self._grow(key + 1)
        if 0 <= key < len(self._dense):
            self._dense[key] = value
        else:
            self._sparse[key] = value

    def pop(self, key: int) -> int | None:
        """Remove key; its value, or None if it was absent."""
        value = self.get(key)
        if value is None:
            return None
        self._count -= 1
        if 0 <= key < len(self._dense):
            self._dense[key] = -1
        else:
            del self._sparse[key]
        return value

    def keys_where(self, test: Callable[[Int64Array], BoolArray]) -> list[int]:
        """Keys whose (present) values pass a vectorised test."""
        dense = self._dense
        found = np.flatnonzero((dense >= 0) & test(dense)).tolist()
        if self._sparse:
            keys = np.fromiter(self._sparse, dtype=np.int64, count=len(self._sparse))
            values = np.fromiter(self._sparse.values(), dtype=np.int64, count=len(keys))
            found.extend(keys[test(values)].tolist())
        return [int(k) for k in found]

    def _grow(self, size: int) -> None:
        grown = np.full(max(size, 2 * len(self._dense)), -1, dtype=np.int64)
        grown[: len(self._dense)] = self._dense
        self._dense = grown
        for key in [k for k in self._sparse if 0 <= k < len(grown)]:
            grown[key] = self._sparse.pop(key)


class TenantEdge(NamedTuple):
    """A tenant's `uses` relationship to a business service."""

    tenant_id: int
    service_id: int
    optional: bool


class TenantIndex:
    """Tenants as rows (id, criticality, key, bitmask of the business services they use)."""

    def __init__(self) -> None:
        self._row_of = IdTable()
        self._ci_ids: Int64Array = np.full(1024, -1, dtype=np.int64)
        self._crit: NDArray[np.int8] = np.zeros(1024, dtype=np.int8)
        self._masks: NDArray[np.uint64] = np.zeros((1024, 0), dtype=np.uint64)
        self._keys: list[str | None] = []
        self._free_rows: list[int] = []
        self._bit_of: dict[int, int] = {}
        self._service_at: list[int | None] = []
        self._free_bits: list[int] = []
        self._edges = IdTable()  # rel id -> row << 21 | bit << 1 | optional
        self._extra_uses: dict[tuple[int, int], int] = {}  # duplicate edges per (row, bit)

    def __len__(self) -> int:
        return len(self._row_of)

    @property
    def edge_count(self) -> int:
        """Number of tenant `uses` edges held."""
        return len(self._edges)

    def is_tenant(self, ci_id: int) -> bool:
        """Whether ci_id is a tenant held here."""
        return self._row_of.get(ci_id) is not None

    def key_of(self, ci_id: int) -> str | None:
        """A tenant's key, or None if ci_id is no tenant."""
        row = self._row_of.get(ci_id)
        return None if row is None else self._keys[row]

    def criticality_of(self, ci_id: int) -> int:
        """A tenant's criticality."""
        return int(self._crit[self._row(ci_id)])

    def upsert_tenant(self, ci_id: int, *, key: str, criticality: int) -> None:
        """Add a tenant or update its key and criticality."""
        if not 0 <= ci_id < 1 << 63:
            raise ValueError(f"tenant id {ci_id} out of range")
        row = self._row_of.get(ci_id)
        if row is None:
            row = self._new_row()
            self._row_of.set(ci_id, row)
            self._ci_ids[row] = ci_id
        self._keys[row] = key
        self._crit[row] = criticality

    def remove_tenant(self, ci_id: int) -> None:
        """Forget a tenant (its edges must be removed first); its row is reused later."""
        row = self._row_of.pop(ci_id)
        if row is None:
            return
        self._masks[row] = 0
        self._ci_ids[row] = -1
        self._keys[row] = None
        self._free_rows.append(row)

    def add_service(self, ci_id: int) -> None:
        """Give a business service a bit (idempotent)."""
        if ci_id in self._bit_of:
            return
        if self._free_bits:
            bit = self._free_bits.pop()
        else:
            bit = len(self._service_at)
            self._service_at.append(None)
            if bit >= 64 * self._masks.shape[1]:
                words = np.zeros((self._masks.shape[0], 1), dtype=np.uint64)
                self._masks = np.hstack([self._masks, words])
        self._service_at[bit] = ci_id
        self._bit_of[ci_id] = bit

    def remove_service(self, ci_id: int) -> None:
        """Free a business service's bit (its edges must be removed first)."""
        bit = self._bit_of.pop(ci_id, None)
        if bit is None:
            return
        self._masks[:, bit // 64] &= ~(_ONE << np.uint64(bit % 64))
        self._service_at[bit] = None
        self._free_bits.append(bit)

    def edge(self, rel_id: int) -> TenantEdge | None:
        """The tenant edge with this id, or None."""
        packed = self._edges.get(rel_id)
        if packed is None:
            return None
        row, bit = packed >> (_BIT_BITS + 1), (packed >> 1) & _BIT_MASK
        service = self._service_at[bit]
        assert service is not None
        return TenantEdge(int(self._ci_ids[row]), service, bool(packed & 1))

    def add_edge(self, rel_id: int, *, tenant_id: int, service_id: int, optional: bool) -> bool:
        """Record that a tenant uses a business service; False if they are not both held here."""
        bit = self._bit_of.get(service_id)
        row = None if bit is None else self._row_of.get(tenant_id)
        if bit is None or row is None:
            return False
        word, flag = bit // 64, 1 << (bit % 64)
        current: int = self._masks.item(row, word)
        if current & flag:
            self._extra_uses[row, bit] = self._extra_uses.get((row, bit), 0) + 1
        else:
            self._masks[row, word] = current | flag
        self._edges.set(rel_id, row << (_BIT_BITS + 1) | bit << 1 | int(optional))
        return True

    def remove_edge(self, rel_id: int) -> bool:
        """Drop a tenant edge; False if rel_id is none of them."""
        packed = self._edges.pop(rel_id)
        if packed is None:
            return False
        row, bit = packed >> (_BIT_BITS + 1), (packed >> 1) & _BIT_MASK
        extra = self._extra_uses.pop((row, bit), 0)
        if extra > 1:
            self._extra_uses[row, bit] = extra - 1
        elif extra == 0:
            self._masks[row, bit // 64] &= ~(_ONE << np.uint64(bit % 64))
        return True

    def edges_of_tenant(self, ci_id: int) -> list[int]:
        """Ids of a tenant's `uses` edges (a scan: for rare removals)."""
        row = self._row_of.get(ci_id)
        if row is None or not self._masks[row].any():  # no bit set: no edge left
            return []
        return self._edges.keys_where(lambda v: (v >> (_BIT_BITS + 1)) == row)

    def edges_of_service(self, ci_id: int) -> list[int]:
        """Ids of the `uses` edges into a business service (a scan: for rare removals)."""
        bit = self._bit_of.get(ci_id)
        if bit is None or not (self._masks[:, bit // 64] & (_ONE << np.uint64(bit % 64))).any():
            return []
        return self._edges.keys_where(lambda v: ((v >> 1) & _BIT_MASK) == bit)

    def services_of(self, ci_id: int) -> list[int]:
        """The business services a tenant uses."""
        mask = self._masks[self._row(ci_id)]
        found: list[int] = []
        for bit, service in enumerate(self._service_at):
            if service is not None and mask[bit // 64] & (_ONE << np.uint64(bit % 64)):
                found.append(service)
        return found

    def affected(
        self, services: Iterable[int], also: Iterable[int], *, top: int
    ) -> tuple[int, list[int]]:
        """How many tenants use any of the services (or are in `also`), and the top ones' ids."""
        hit = self._hits(services)
        for ci_id in also:
            hit[self._row(ci_id)] = True
        count = int(np.count_nonzero(hit))
        return count, self._top(hit, top) if count and top > 0 else []

    def _top(self, hit: BoolArray, top: int) -> list[int]:
        """Ids of the `top` hit tenants by criticality (1 first), then id."""
        n = len(hit)
        found: list[int] = []
        for level in range(1, 5):
            # one criticality level at a time: the most critical are usually few
            ids = self._ci_ids[:n][hit & (self._crit[:n] == level)]
            need = top - len(found)
            if len(ids) > need:
                ids = ids[np.argpartition(ids, need - 1)[:need]]
            found.extend(sorted(ids.tolist()))
            if len(found) >= top:
                break
        return found

    def _hits(self, services: Iterable[int]) -> BoolArray:
        n = len(self._keys)
        words = np.zeros(self._masks.shape[1], dtype=np.uint64)
        for service in services:
            bit = self._bit_of[service]
            words[bit // 64] |= _ONE << np.uint64(bit % 64)
        hit = np.zeros(n, dtype=np.bool_)
        for word in np.flatnonzero(words).tolist():
            hit |= (self._masks[:n, word] & words[word]) != 0
        return hit

    def _row(self, ci_id: int) -> int:
        row = self._row_of.get(ci_id)
        if row is None:
            raise KeyError(f"CI {ci_id} is not a tenant")
        return row

    def _new_row(self) -> int:
        if self._free_rows:
            return self._free_rows.pop()
        row = len(self._keys)
        self._keys.append(None)
        if row >= len(self._ci_ids):
            self._grow(2 * len(self._ci_ids))
        return row

    def _grow(self, size: int) -> None:
        old = len(self._ci_ids)
        ci_ids = np.full(size, -1, dtype=np.int64)
        ci_ids[:old] = self._ci_ids
        crit = np.zeros(size, dtype=np.int8)
        crit[:old] = self._crit
        masks = np.zeros((size, self._masks.shape[1]), dtype=np.uint64)
        masks[:old] = self._masks
        self._ci_ids, self._crit, self._masks = ci_ids, crit, masks
