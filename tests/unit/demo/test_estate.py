"""The scenario's estate is consistent before anything is sent to the API."""

from __future__ import annotations

import json
from collections import Counter

from flywheel.cmdb.schemas import ImportBatch
from flywheel.demo import estate


def test_every_relationship_joins_cis_of_the_platform_or_its_tenants() -> None:
    platform = estate.platform({"deploy": {"target": {}}, "ports": [1, 2, 3, 4]})
    tenant_batches = estate.tenants(12_000)
    keys = [c["key"] for c in platform["cis"]] + [
        c["key"] for batch in tenant_batches for c in batch["cis"]
    ]
    assert len(keys) == len(set(keys))
    known = set(keys)
    for batch in [platform, *tenant_batches]:
        for rel in batch["relationships"]:
            assert rel["source"] in known and rel["target"] in known, rel
        ImportBatch.model_validate(batch)  # what POST /cmdb/import accepts


def test_the_shape_of_the_platform() -> None:
    platform = estate.platform(None)
    types = Counter(c["type"] for c in platform["cis"])
    assert types["business_service"] == 7
    assert types["external_service"] == 4
    assert types["instance"] == 7 * estate.POOL_SIZE
    live = estate.platform({"deploy": {"target": {"driver": "local"}}, "ports": [9001, 9002]})
    pool = next(c for c in live["cis"] if c["key"] == estate.LIVE_POOL)
    assert pool["attributes"]["deploy"]["target"]["driver"] == "local"
    ported = [c for c in live["cis"] if "port" in c.get("attributes", {})]
    assert [c["attributes"]["port"] for c in ported] == [9001, 9002]


def test_tenants_come_in_batches_the_api_accepts_and_all_use_the_storefront() -> None:
    batches = estate.tenants(12_345)
    assert [len(b["cis"]) for b in batches] == [1000] * 12 + [345]
    assert max(len(json.dumps(b)) for b in batches) < 1_048_576 // 2  # the API's body limit
    uses = Counter(r["target"] for b in batches for r in b["relationships"])
    assert uses["storefront"] == 12_345
    assert 0 < uses["marketing"] < 12_345
    assert estate.tenants(50) == estate.tenants(50)  # the same scenario every time
