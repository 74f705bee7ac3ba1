"""A pool as a deployment sees it: its instances and drivers, read from the CMDB."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from flywheel.cmdb import service as cmdb_service
from flywheel.cmdb.propagation import MinUp
from flywheel.deploy.actions import Toolkit
from flywheel.deploy.drivers.base import Instance
from flywheel.deploy.drivers.registry import load_balancer_for, target_for
from flywheel.deploy.schemas import RolloutSettings
from flywheel.errors import InvalidInput
from flywheel.vault.service import CredentialLookup

POOL_TYPE = "service_pool"


@dataclass(frozen=True)
class PoolSetup:
    """Everything a run needs to know about its pool, snapshotted when the run is created."""

    service: str
    pool: str
    min_up: int
    instances: list[Instance]
    load_balancer: dict[str, Any]
    target: dict[str, Any]

    @property
    def backend(self) -> str:
        """The load-balancer backend that holds the pool's servers."""
        return str(self.load_balancer.get("backend") or self.pool)

    def as_record(self) -> dict[str, Any]:
        """The snapshot stored with the deployment."""
        return {
            "service": self.service,
            "min_up": self.min_up,
            "load_balancer": self.load_balancer,
            "target": self.target,
            "instances": [
                {"key": i.key, "host": i.host, "port": i.port, "lb_server": i.lb_server}
                for i in self.instances
            ],
        }


def _pool_of_service(session: Session, service: str) -> str:
    report = cmdb_service.dependencies(session, key=service)
    found = [d for d in report.dependencies if d.type == POOL_TYPE]
    if not found:
        raise InvalidInput(f"service '{service}' has no {POOL_TYPE} in the CMDB to deploy")
    # The service's own pool is the nearest; pools of services it calls lie further away.
    nearest = min(d.depth for d in found)
    pools = sorted(d.key for d in found if d.depth == nearest)
    if len(pools) > 1:
        raise InvalidInput(f"service '{service}' has several pools ({', '.join(pools)}): name one")
    return str(pools[0])


def _service_of_pool(session: Session, pool: str) -> str:
    """The business service nearest the pool in the CMDB (shortest path; ties by key)."""
    report = cmdb_service.impact(session, keys=[pool], top_tenants=0)
    nearest = min(report.business_services, key=lambda s: (len(s.path), s.key), default=None)
    return nearest.key if nearest is not None else pool


def _instance(ci: Any) -> Instance:
    attrs = ci.attributes or {}
    port = attrs.get("port")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidInput(f"instance '{ci.key}' needs an integer 'port' attribute to be deployed")
    host = str(attrs.get("host") or "127.0.0.1")
    extra = {k: str(v) for k, v in attrs.items() if k not in {"host", "port", "lb_server"}}
    return Instance(ci.key, host, port, attrs.get("lb_server"), extra)


def resolve_pool(session: Session, *, service: str | None, pool: str | None) -> PoolSetup:
    """Find the pool (from the service if not named), its instances, min_up and drivers."""
    pool_key = pool or _pool_of_service(session, str(service))
    ci = cmdb_service.get_ci(session, key=pool_key)
    if ci.type != POOL_TYPE:
        raise InvalidInput(f"'{pool_key}' is a {ci.type}, not a {POOL_TYPE}")
    members = cmdb_service.pool_members(session, pool_key=pool_key)
    if not members:
        raise InvalidInput(f"pool '{pool_key}' has no member instances in the CMDB")
    deploy = (ci.attributes or {}).get("deploy")
    if not isinstance(deploy, dict) or not isinstance(deploy.get("target"), dict):
        raise InvalidInput(
            f"pool '{pool_key}' has no deploy settings: set attributes.deploy.target "
            "(and attributes.deploy.load_balancer)"
        )
    try:
        parsed = MinUp.parse(ci.min_up)
    except ValueError as exc:
        raise InvalidInput(f"pool '{pool_key}': {exc}") from exc
    min_up = 0 if parsed is None else parsed.required(len(members))
    return PoolSetup(
        service=service or _service_of_pool(session, pool_key),
        pool=pool_key,
        min_up=min_up,
        instances=[_instance(m) for m in members],
        load_balancer=dict(deploy.get("load_balancer") or {"driver": "none"}),
        target=dict(deploy["target"]),
    )


def toolkit_for(
    record: dict[str, Any],
    settings: RolloutSettings,
    *,
    pool: str,
    should_stop: Callable[[], bool] = lambda: False,
    credentials: CredentialLookup | None = None,
) -> Toolkit:
    """The drivers of a run, from the snapshot stored with it (credentials: the vault's)."""
    instances = {
        i["key"]: Instance(i["key"], i["host"], i["port"], i.get("lb_server"))
        for i in record["instances"]
    }
    lb_config = dict(record.get("load_balancer") or {"driver": "none"})
    backend = lb_config.pop("backend", None) or pool
    return Toolkit(
        lb=load_balancer_for(lb_config),
        target=target_for(record["target"], credentials),
        backend=str(backend),
        instances=instances,
        settings=settings,
        should_stop=should_stop,
    )
