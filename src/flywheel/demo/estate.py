"""The built-in scenario's estate: an e-commerce platform hosting retailers' stores (pure)."""

from __future__ import annotations

import random
from typing import Any

SERVICES = {
    "storefront": ("Storefront", 1),
    "cart": ("Cart", 1),
    "checkout": ("Checkout", 1),
    "orders": ("Orders", 2),
    "inventory": ("Inventory", 2),
    "billing": ("Billing", 2),
    "marketing": ("Marketing", 3),
}
# What each service's application needs besides its own pool and database.
NEEDS = {
    "storefront": ["cart-app", "inventory-app"],
    "cart": ["inventory-app"],
    "checkout": ["cart-app", "billing-app", "partner-payments"],
    "orders": ["inventory-app", "partner-marketplace-a", "partner-marketplace-b"],
    "inventory": [],
    "billing": ["partner-payments"],
    "marketing": ["partner-price-compare"],
}
PARTNERS = {
    "partner-payments": "PayFast payment provider",
    "partner-marketplace-a": "Marketplace A",
    "partner-marketplace-b": "Marketplace B",
    "partner-price-compare": "PriceCompare",
}
POOL_SIZE, HOSTS = 4, 12
TENANT_BATCH = 1000
LIVE_POOL = "storefront-pool"


def _ci(key: str, name: str, ci_type: str, **fields: Any) -> dict[str, Any]:
    return {"key": key, "name": name, "type": ci_type, **fields}


def _rel(source: str, rel_type: str, target: str) -> dict[str, Any]:
    return {"source": source, "type": rel_type, "target": target}


def platform(live_pool: dict[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Services, applications, pools, instances, hosts, databases, balancers and partners.

    `live_pool` holds the storefront pool's deploy settings and its instances' ports
    when real instances run; the other pools are described only.
    """
    cis = [_ci("lb-edge", "Edge load balancer", "load_balancer", criticality=1)]
    cis += [_ci(f"host-{n:02d}", f"host-{n:02d}", "host", criticality=2) for n in range(HOSTS)]
    cis += [_ci(k, name, "external_service", criticality=2) for k, name in PARTNERS.items()]
    rels: list[dict[str, Any]] = []
    for index, (svc, (name, criticality)) in enumerate(SERVICES.items()):
        app, pool, db = f"{svc}-app", f"{svc}-pool", f"{svc}-db"
        pool_fields: dict[str, Any] = {"min_up": "50%", "criticality": criticality}
        if svc == "storefront" and live_pool:
            pool_fields["attributes"] = {"deploy": live_pool["deploy"]}
        cis += [
            _ci(svc, name, "business_service", criticality=criticality),
            _ci(app, f"{name} application", "application", criticality=criticality),
            _ci(pool, f"{name} pool", "service_pool", **pool_fields),
            _ci(db, f"{name} database", "database", criticality=criticality),
        ]
        rels += [_rel(svc, "depends_on", app), _rel(app, "depends_on", pool)]
        rels += [_rel(app, "depends_on", db), _rel(pool, "balanced_by", "lb-edge")]
        rels += [_rel(app, "depends_on", need) for need in NEEDS[svc]]
        rels.append(_rel(db, "runs_on", f"host-{(index * 3) % HOSTS:02d}"))
        ports = (live_pool or {}).get("ports", []) if svc == "storefront" else []
        for n in range(POOL_SIZE):
            key = f"{svc}-{n + 1}"
            attributes: dict[str, Any] = {"lb_server": f"s{n + 1}"}
            if n < len(ports):
                attributes["port"] = ports[n]
            cis.append(_ci(key, key, "instance", criticality=criticality, attributes=attributes))
            rels += [_rel(key, "member_of", pool), _rel(key, "runs_on", f"host-{n % HOSTS:02d}")]
    return {"cis": cis, "relationships": rels}


def tenants(count: int, *, seed: int = 7) -> list[dict[str, list[dict[str, Any]]]]:
    """Retailers using the platform, in import batches of at most 1,000.

    A batch of 1,000 is about 0.4 MB of JSON: well inside the API's 1 MiB body limit.
    """
    rng = random.Random(seed)
    services = list(SERVICES)
    batches: list[dict[str, list[dict[str, Any]]]] = []
    for start in range(0, count, TENANT_BATCH):
        cis, rels = [], []
        for n in range(start, min(count, start + TENANT_BATCH)):
            key = f"retailer-{n + 1:05d}"
            tier = 1 if n % 500 == 0 else 2 if n % 50 == 0 else 3 if n % 5 == 0 else 4
            cis.append(_ci(key, f"Retailer {n + 1:05d}", "tenant", criticality=tier))
            used = ["storefront", "cart", "checkout", *rng.sample(services[3:], rng.randint(0, 3))]
            rels += [_rel(key, "uses", svc) for svc in used]
        batches.append({"cis": cis, "relationships": rels})
    return batches
