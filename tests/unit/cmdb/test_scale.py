"""A synthetic estate of ~22k CIs: impact answers match a brute-force count (no timing)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from flywheel.cmdb.graph import CmdbGraph, MinUp, Status

N_SERVICES, APPS_PER_SERVICE, POOL_SIZE, N_HOSTS, N_DBS, N_TENANTS = 20, 5, 10, 500, 10, 20_000


@dataclass
class Synthetic:
    graph: CmdbGraph = field(default_factory=CmdbGraph)
    next_id: int = 0
    next_rel: int = 0
    service_of_app: dict[int, int] = field(default_factory=dict)
    db_of_app: dict[int, int] = field(default_factory=dict)
    uses: dict[int, set[int]] = field(default_factory=dict)
    criticality: dict[int, int] = field(default_factory=dict)
    hosts_used: list[int] = field(default_factory=list)

    def ci(self, ci_type: str, criticality: int = 3, min_up: str | None = None) -> int:
        self.next_id += 1
        self.criticality[self.next_id] = criticality
        self.graph.upsert_ci(
            self.next_id,
            key=f"{ci_type}-{self.next_id}",
            ci_type=ci_type,
            name=f"{ci_type} {self.next_id}",
            criticality=criticality,
            min_up=MinUp.parse(min_up),
        )
        return self.next_id

    def rel(self, source: int, rel_type: str, target: int) -> None:
        self.next_rel += 1
        self.graph.add_relationship(
            self.next_rel, source_id=source, rel_type=rel_type, target_id=target
        )


@pytest.fixture(scope="module")
def synthetic() -> Synthetic:
    rng = random.Random(7)
    s = Synthetic()
    dbs = [s.ci("database") for _ in range(N_DBS)]
    hosts = [s.ci("host") for _ in range(N_HOSTS)]
    services = [s.ci("business_service", criticality=rng.randint(1, 4)) for _ in range(N_SERVICES)]
    for service in services:
        for _ in range(APPS_PER_SERVICE):
            app, pool = s.ci("application"), s.ci("service_pool", min_up="80%")
            s.rel(service, "depends_on", app)
            s.rel(app, "depends_on", pool)
            s.db_of_app[app] = rng.choice(dbs)
            s.rel(app, "depends_on", s.db_of_app[app])
            s.service_of_app[app] = service
            for n in range(POOL_SIZE):
                instance = s.ci("instance")
                s.rel(instance, "member_of", pool)
                s.hosts_used.append(hosts[(pool * 7 + n) % N_HOSTS])
                s.rel(instance, "runs_on", s.hosts_used[-1])
    for _ in range(N_TENANTS):
        tenant = s.ci("tenant", criticality=rng.randint(1, 4))
        s.uses[tenant] = set(rng.sample(services, rng.randint(1, 3)))
        for service in s.uses[tenant]:
            s.rel(tenant, "uses", service)
    return s


def test_the_estate_is_complete(synthetic: Synthetic) -> None:
    graph = synthetic.graph
    assert graph.tenant_count == N_TENANTS
    assert len(graph) > N_TENANTS + 1_500
    assert graph.relationship_count == synthetic.next_rel


def test_a_database_failure_counts_tenants_like_brute_force(synthetic: Synthetic) -> None:
    graph = synthetic.graph
    for db in {synthetic.db_of_app[a] for a in list(synthetic.db_of_app)[:3]}:
        hit = {synthetic.service_of_app[a] for a, d in synthetic.db_of_app.items() if d == db}
        expected = [t for t, used in synthetic.uses.items() if used & hit]
        result = graph.impact([db], top_tenants=25)
        assert result.tenants_affected == len(expected)
        assert {graph.id_of(s.key) for s in result.business_services} == hit
        assert all(s.status is Status.DOWN for s in result.business_services)
        best = sorted(expected, key=lambda t: (synthetic.criticality[t], t))
        assert [t.ci_id for t in result.top_tenants] == best[:25]


def test_a_host_failure_only_degrades(synthetic: Synthetic) -> None:
    graph = synthetic.graph
    host = synthetic.hosts_used[0]
    result = graph.impact([host])
    pools = [c for c in result.impaired if c.ci_type == "service_pool"]
    assert pools
    assert all(p.status is Status.DEGRADED and p.redundancy_left == 1 for p in pools)
    hit = {graph.id_of(s.key) for s in result.business_services}
    assert result.tenants_affected == sum(1 for used in synthetic.uses.values() if used & hit)
    assert all(s.path[0] == graph.key_of(host) for s in result.business_services)
