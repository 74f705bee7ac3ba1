"""The in-memory CMDB graph: CIs, relationships, impact and dependency walks (no I/O)."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from typing import NamedTuple

from flywheel.cmdb.propagation import DOWN, Adjacency, MinUp, Propagation, Rel, Status, propagate
from flywheel.cmdb.tenants import TenantIndex

__all__ = [
    "AffectedTenant",
    "CmdbGraph",
    "Dependencies",
    "Dependency",
    "DependencyEdge",
    "Impact",
    "ImpactedService",
    "ImpairedCI",
    "MinUp",
    "Status",
]

TENANT = "tenant"
BUSINESS_SERVICE = "business_service"
USES = "uses"


@dataclass(frozen=True)
class ImpactedService:
    """A business service degraded or down, and one path that explains it."""

    key: str
    name: str
    status: Status
    redundancy_left: int | None
    path: list[str]


@dataclass(frozen=True)
class ImpairedCI:
    """Any other CI (not a tenant, not failed) that is degraded or down."""

    key: str
    ci_type: str
    status: Status
    redundancy_left: int | None


@dataclass(frozen=True)
class AffectedTenant:
    """A tenant affected by the failure."""

    ci_id: int
    key: str
    criticality: int


@dataclass
class Impact:
    """What a set of failed CIs does to the business services and tenants."""

    failed: list[str]
    status: Status
    business_services: list[ImpactedService]
    impaired: list[ImpairedCI]  # worst first; the first `list_impaired` if that was given
    tenants_affected: int
    top_tenants: list[AffectedTenant]
    impaired_count: int = 0


@dataclass(frozen=True)
class Dependency:
    """A CI that another needs, at its shortest distance."""

    ci_id: int
    key: str
    ci_type: str
    depth: int


@dataclass(frozen=True)
class DependencyEdge:
    """A relationship walked, as stored (source needs target)."""

    source: str
    rel_type: str
    target: str


@dataclass(frozen=True)
class Dependencies:
    """Everything a CI needs, directly or not."""

    key: str
    reachable: list[Dependency]
    edges: list[DependencyEdge]


class _Node(NamedTuple):
    key: str
    ci_type: str
    name: str
    criticality: int
    min_up: MinUp | None


class CmdbGraph:
    """CIs and relationships held in memory, for impact and dependency questions."""

    def __init__(self) -> None:
        self._nodes: dict[int, _Node] = {}  # every CI except tenants
        self._ids: dict[str, int] = {}
        self._graph = Adjacency()  # every relationship except tenant -> business service uses
        self._tenants = TenantIndex()

    def __len__(self) -> int:
        return len(self._nodes) + len(self._tenants)

    def __contains__(self, ci_id: object) -> bool:
        return isinstance(ci_id, int) and self._known(ci_id)

    @property
    def relationship_count(self) -> int:
        """Number of relationships held."""
        return len(self._graph.rels) + self._tenants.edge_count

    @property
    def tenant_count(self) -> int:
        """Number of tenants held."""
        return len(self._tenants)

    def id_of(self, key: str) -> int | None:
        """The id of the CI with this key, or None."""
        return self._ids.get(key)

    def key_of(self, ci_id: int) -> str:
        """The key of a CI; KeyError if unknown."""
        node = self._nodes.get(ci_id)
        if node is not None:
            return node.key
        key = self._tenants.key_of(ci_id)
        if key is None:
            raise KeyError(f"unknown CI id {ci_id}")
        return key

    def type_of(self, ci_id: int) -> str:
        """The type of a CI; KeyError if unknown."""
        node = self._nodes.get(ci_id)
        if node is not None:
            return node.ci_type
        self.key_of(ci_id)
        return TENANT

    def upsert_ci(
        self,
        ci_id: int,
        *,
        key: str,
        ci_type: str,
        name: str,
        criticality: int,
        min_up: MinUp | None = None,
    ) -> None:
        """Add a CI or replace its attributes (relationships are kept)."""
        if not 1 <= criticality <= 4:
            raise ValueError(f"criticality must be 1-4, not {criticality}")
        holder = self._ids.get(key)
        if holder is not None and holder != ci_id:
            raise ValueError(f"key {key!r} already belongs to CI {holder}")
        if not self._known(ci_id):
            self._insert(ci_id, key, ci_type, name, criticality, min_up)
            return
        old_key, old_type = self.key_of(ci_id), self.type_of(ci_id)
        if _kind(old_type) != _kind(ci_type):
            # tenant and business-service edges live in the tenant index, others in the graph
            kept = self._detach(ci_id)
            self._drop(ci_id)
            self._insert(ci_id, key, ci_type, name, criticality, min_up)
            for rel_id, rel in kept:
                self._attach(rel_id, rel)
            return
        del self._ids[old_key]
        self._insert(ci_id, key, ci_type, name, criticality, min_up)

    def remove_ci(self, ci_id: int) -> bool:
        """Forget a CI and its relationships; False if it was unknown."""
        if not self._known(ci_id):
            return False
        self._detach(ci_id)
        self._drop(ci_id)
        return True

    def add_relationship(
        self, rel_id: int, *, source_id: int, rel_type: str, target_id: int, optional: bool = False
    ) -> None:
        """Add (or replace) a relationship: source needs target."""
        for ci_id in (source_id, target_id):
            if not self._known(ci_id):
                raise KeyError(f"unknown CI id {ci_id}")
        self.remove_relationship(rel_id)
        self._attach(rel_id, Rel(source_id, sys.intern(rel_type), target_id, optional))

    def remove_relationship(self, rel_id: int) -> bool:
        """Drop a relationship; False if it was unknown."""
        if self._graph.remove(rel_id) is None:
            return self._tenants.remove_edge(rel_id)
        return True

    def members_of(self, pool_id: int) -> list[int]:
        """The ids of a pool's members (sources of `member_of` into it), sorted."""
        self.key_of(pool_id)
        return sorted(self._graph.member_ids(pool_id))

    def impact(
        self, failed: Collection[int], *, top_tenants: int = 10, list_impaired: int | None = None
    ) -> Impact:
        """What happens to business services and tenants if every CI in `failed` is down.

        `list_impaired` caps how many impaired CIs are described (all are counted): a
        network failure impairs thousands, and describing each costs more than the walk.
        """
        failed_ids = set(failed)
        unknown = sorted(i for i in failed_ids if not self._known(i))
        if unknown:
            raise KeyError(f"unknown CI id(s): {', '.join(map(str, unknown))}")
        walk = propagate(failed_ids, self._graph, self._min_up_of)
        services: list[tuple[int, ImpactedService]] = []
        found: list[tuple[bool, str, int, int]] = []  # (not down, key, id, level): worst first
        tenants: list[int] = []
        nodes = self._nodes
        for ci_id, level in walk.levels.items():
            node = nodes.get(ci_id)
            if node is None:
                tenants.append(ci_id)
            elif node.ci_type == BUSINESS_SERVICE:
                services.append((ci_id, self._impacted_service(ci_id, node, walk)))
            elif ci_id not in failed_ids:
                found.append((level != DOWN, node.key, ci_id, level))
        found.sort()
        impaired = [
            ImpairedCI(
                key, nodes[ci_id].ci_type, Status.of_level(level), walk.redundancy_left(ci_id)
            )
            for _, key, ci_id, level in found[:list_impaired]
        ]
        result = self._impact(walk, services, impaired, tenants, top_tenants)
        result.impaired_count = len(found)
        return result

    def dependencies(self, ci_id: int, *, max_depth: int | None = None) -> Dependencies:
        """What a CI needs: everything reachable from it along relationships, cycle-safe."""
        root_key = self.key_of(ci_id)
        depth_of = {ci_id: 0}
        edges: list[DependencyEdge] = []
        queue = deque([ci_id])
        while queue:
            current = queue.popleft()
            depth = depth_of[current]
            if max_depth is not None and depth >= max_depth:
                continue
            for source, rel_type, target, needed in self._needs(current):
                edges.append(DependencyEdge(self.key_of(source), rel_type, self.key_of(target)))
                if needed not in depth_of:
                    depth_of[needed] = depth + 1
                    queue.append(needed)
        del depth_of[ci_id]
        reachable = [Dependency(n, self.key_of(n), self.type_of(n), d) for n, d in depth_of.items()]
        reachable.sort(key=lambda d: (d.depth, d.key))
        return Dependencies(root_key, reachable, edges)

    def _needs(self, ci_id: int) -> list[tuple[int, str, int, int]]:
        """Edges (source, type, target, the CI needed) leaving ci_id in the 'needs' direction."""
        graph = self._graph
        found: list[tuple[int, str, int, int]] = []
        for rel_id in graph.needs.get(ci_id, ()):
            rel = graph.rels[rel_id]
            found.append((rel.source, rel.rel_type, rel.target, rel.target))
        for rel_id in graph.members.get(ci_id, ()):  # a pool needs its members (not vice versa)
            rel = graph.rels[rel_id]
            found.append((rel.source, rel.rel_type, rel.target, rel.source))
        if self._tenants.is_tenant(ci_id):
            found.extend((ci_id, USES, s, s) for s in self._tenants.services_of(ci_id))
        return found

    def _impacted_service(self, ci_id: int, node: _Node, walk: Propagation) -> ImpactedService:
        path = walk.path_to(ci_id)
        redundancy = walk.redundancy_left(ci_id)
        if redundancy is None:
            on_path = [r for p in path if (r := walk.redundancy_left(p)) is not None]
            redundancy = min(on_path, default=None)
        keys = [self.key_of(p) for p in path]
        return ImpactedService(node.key, node.name, walk.status(ci_id), redundancy, keys)

    def _impact(
        self,
        walk: Propagation,
        services: list[tuple[int, ImpactedService]],
        impaired: list[ImpairedCI],
        tenants: list[int],
        top: int,
    ) -> Impact:
        nodes = self._nodes
        services.sort(key=lambda s: (-s[1].status.level, nodes[s[0]].criticality, s[1].key))
        count, top_ids = self._tenants.affected([i for i, _ in services], tenants, top=top)
        top_tenants = [
            AffectedTenant(t, self.key_of(t), self._tenants.criticality_of(t)) for t in top_ids
        ]
        fallback = Status.DOWN if walk.failed else Status.OK
        status = services[0][1].status if services else fallback
        failed_keys = sorted(self.key_of(f) for f in walk.failed)
        return Impact(failed_keys, status, [s for _, s in services], impaired, count, top_tenants)

    def _min_up_of(self, ci_id: int) -> MinUp | None:
        node = self._nodes.get(ci_id)
        return None if node is None else node.min_up

    def _known(self, ci_id: int) -> bool:
        return ci_id in self._nodes or self._tenants.is_tenant(ci_id)

    def _insert(
        self, ci_id: int, key: str, ci_type: str, name: str, criticality: int, min_up: MinUp | None
    ) -> None:
        if ci_type == TENANT:
            # a tenant's name is not needed for impact: not kept, to stay small at 800k tenants
            self._tenants.upsert_tenant(ci_id, key=key, criticality=criticality)
        else:
            self._nodes[ci_id] = _Node(key, sys.intern(ci_type), name, criticality, min_up)
            if ci_type == BUSINESS_SERVICE:
                self._tenants.add_service(ci_id)
        self._ids[key] = ci_id

    def _drop(self, ci_id: int) -> None:
        del self._ids[self.key_of(ci_id)]
        if self._nodes.pop(ci_id, None) is None:
            self._tenants.remove_tenant(ci_id)
        else:
            self._tenants.remove_service(ci_id)

    def _detach(self, ci_id: int) -> list[tuple[int, Rel]]:
        """Remove every relationship touching ci_id; return them."""
        rel_ids = self._graph.touching(ci_id)
        rel_ids.update(self._tenants.edges_of_tenant(ci_id))
        rel_ids.update(self._tenants.edges_of_service(ci_id))
        kept: list[tuple[int, Rel]] = []
        for rel_id in sorted(rel_ids):
            rel = self._graph.rels.get(rel_id)
            if rel is None:
                edge = self._tenants.edge(rel_id)
                assert edge is not None
                rel = Rel(edge.tenant_id, USES, edge.service_id, edge.optional)
            kept.append((rel_id, rel))
            self.remove_relationship(rel_id)
        return kept

    def _attach(self, rel_id: int, rel: Rel) -> None:
        source, rel_type, target, optional = rel
        if rel_type == USES and self._tenants.add_edge(
            rel_id, tenant_id=source, service_id=target, optional=optional
        ):
            return
        self._graph.add(rel_id, rel)


def _kind(ci_type: str) -> str:
    return ci_type if ci_type in (TENANT, BUSINESS_SERVICE) else "other"
