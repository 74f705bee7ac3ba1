"""A small builder for hand-drawn CMDB graphs, addressed by key."""

from __future__ import annotations

from flywheel.cmdb.graph import CmdbGraph, Impact, ImpactedService, ImpairedCI, MinUp


class Estate:
    """A CmdbGraph whose CIs and relationships are named by key."""

    def __init__(self) -> None:
        self.graph = CmdbGraph()
        self.rel_ids: dict[tuple[str, str, str], int] = {}
        self._next_ci = 100
        self._next_rel = 1000

    def ci(
        self,
        key: str,
        ci_type: str = "application",
        *,
        criticality: int = 3,
        min_up: str | int | None = None,
    ) -> int:
        """Add a CI; its id."""
        self._next_ci += 1
        self.graph.upsert_ci(
            self._next_ci,
            key=key,
            ci_type=ci_type,
            name=key.title(),
            criticality=criticality,
            min_up=MinUp.parse(min_up),
        )
        return self._next_ci

    def rel(self, source: str, rel_type: str, target: str, *, optional: bool = False) -> int:
        """Add a relationship between two CIs named by key; its id."""
        self._next_rel += 1
        self.graph.add_relationship(
            self._next_rel,
            source_id=self.id(source),
            rel_type=rel_type,
            target_id=self.id(target),
            optional=optional,
        )
        self.rel_ids[source, rel_type, target] = self._next_rel
        return self._next_rel

    def pool(self, key: str, size: int, *, min_up: str | int | None = None) -> list[str]:
        """A service pool with `size` instances; the instances' keys."""
        self.ci(key, "service_pool", min_up=min_up)
        members = [f"{key}-i{n}" for n in range(1, size + 1)]
        for member in members:
            self.ci(member, "instance")
            self.rel(member, "member_of", key)
        return members

    def id(self, key: str) -> int:
        """The id of a CI by key."""
        ci_id = self.graph.id_of(key)
        assert ci_id is not None, key
        return ci_id

    def impact(self, *keys: str, top: int = 10) -> Impact:
        """The impact of the CIs named by key failing together."""
        return self.graph.impact([self.id(k) for k in keys], top_tenants=top)


def service(impact: Impact, key: str) -> ImpactedService:
    """The named business service in an impact, which must be there."""
    found = [s for s in impact.business_services if s.key == key]
    assert found, f"{key} not impacted: {impact.business_services}"
    return found[0]


def impaired(impact: Impact) -> dict[str, ImpairedCI]:
    """The impaired CIs of an impact by key."""
    return {c.key: c for c in impact.impaired}


def statuses(impact: Impact) -> dict[str, str]:
    """Key -> status of every impaired CI and business service."""
    found = {c.key: c.status.value for c in impact.impaired}
    found.update({s.key: s.status.value for s in impact.business_services})
    return found
