"""Which pool and business service a deployment resolves to, from the CMDB."""

from __future__ import annotations

from pathlib import Path

from flywheel.db import Database
from flywheel.deploy.drivers.base import Instance
from flywheel.deploy.pool import resolve_pool
from tests.factories import make_ci, make_deployable_pool, relate


def test_a_pool_belongs_to_its_nearest_business_service(db: Database, tmp_path: Path) -> None:
    instances = [Instance("shop-1", "127.0.0.1", 18601, None, {})]
    with db.session(write=True) as session:
        make_deployable_pool(session, instances=instances, state_dir=str(tmp_path))
        # A service further away that sorts first must not win over the pool's own service.
        make_ci(session, "aardvark-portal", "business_service", criticality=2)
        relate(session, "aardvark-portal", "depends_on", "shop")
        session.commit()
    with db.session() as session:
        setup = resolve_pool(session, service=None, pool="shop-pool")
    assert setup.service == "shop"
    assert setup.pool == "shop-pool"
    assert [i.key for i in setup.instances] == ["shop-1"]
