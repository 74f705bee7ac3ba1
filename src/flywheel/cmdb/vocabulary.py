"""The CMDB's fixed words: built-in CI types, relationship types, lifecycle states, keys."""

from __future__ import annotations

from enum import StrEnum

BUILTIN_TYPES: dict[str, str] = {
    "business_service": "A service the business sells or relies on (storefront, checkout, …)",
    "application": "Software that implements part of a business service",
    "service_pool": "Interchangeable instances behind a load balancer, with a min_up",
    "instance": "One running copy of an application",
    "host": "A machine (physical or virtual) that runs instances",
    "database": "A database server or cluster",
    "load_balancer": "A load balancer or its backend",
    "network": "A network segment, link or device",
    "external_service": "A partner: payment provider, marketplace, price-comparison site",
    "tenant": "A retailer using the platform",
}


class RelType(StrEnum):
    """How one CI needs another (source → target)."""

    DEPENDS_ON = "depends_on"
    RUNS_ON = "runs_on"
    MEMBER_OF = "member_of"
    BALANCED_BY = "balanced_by"
    USES = "uses"
    CONNECTS_TO = "connects_to"


class Lifecycle(StrEnum):
    """Where a CI is in its life."""

    PLANNED = "planned"
    IN_BUILD = "in_build"
    OPERATIONAL = "operational"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"


# Relationship types whose ends must be of given CI types: (source types, target types).
TYPED_ENDS: dict[RelType, tuple[frozenset[str] | None, frozenset[str]]] = {
    RelType.USES: (frozenset({"tenant"}), frozenset({"business_service"})),
    RelType.MEMBER_OF: (None, frozenset({"service_pool"})),
}

CI_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
TYPE_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


def check_relationship_ends(rel_type: RelType, source_type: str, target_type: str) -> str | None:
    """Why a relationship of this type cannot join these CI types, or None if it can."""
    if rel_type not in TYPED_ENDS:
        return None
    sources, targets = TYPED_ENDS[rel_type]
    if sources is not None and source_type not in sources:
        return f"'{rel_type}' must start at a {' or '.join(sorted(sources))}, not a {source_type}"
    if target_type not in targets:
        return f"'{rel_type}' must point to a {' or '.join(sorted(targets))}, not a {target_type}"
    return None
