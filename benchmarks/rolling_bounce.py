"""Rolling bounce under load through real HAProxy, against naive restarts and a faulty release.

Starts HAProxy (Debian `haproxy`) in front of N storefront instances on loopback, a
`flywheel serve` on a scratch SQLite database whose CMDB describes the pool, and customers
in a separate process (a steady rate, half keep-alive, half new connections). In one run:
a rolling bounce to v2 through the API (with an auto-approved change, production gates);
two naive baselines done directly on the processes (stop all then start all; stop-start one
by one without draining); then a faulty release that Flywheel must roll back. Progress goes
to stderr, one JSON object to stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from customer_load import CustomerLoad, Outcomes
from flywheel.deploy.drivers.base import Instance
from flywheel.deploy.drivers.haproxy import Backend, HaproxyConfig, HaproxyProcess
from flywheel.deploy.drivers.local import LocalTarget
from servers import Server, free_port, running_server

FINAL = {"succeeded", "rolled_back", "failed", "aborted"}
LOWER_BOUND_ACTIONS = ("wait_drained", "start", "wait_healthy", "bake")


def progress(message: str) -> None:
    """A line on stderr."""
    print(f"[rolling_bounce] {message}", file=sys.stderr, flush=True)


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def wait_until(check: Any, timeout_s: float = 60.0) -> None:
    """Poll until check() is true."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting")
        time.sleep(0.05)


def seed_cmdb(server: Server, instances: list[Instance], socket: Path, state_dir: Path) -> None:
    """The shop's service, app, pool (with its deploy settings) and instances."""
    deploy = {
        "load_balancer": {"driver": "haproxy", "socket": str(socket), "backend": "storefront"},
        "target": {"driver": "local", "state_dir": str(state_dir)},
    }
    cis = [
        {"key": "shop", "name": "Shop", "type": "business_service", "criticality": 4},
        {"key": "shop-app", "name": "Shop app", "type": "application"},
        {
            "key": "shop-pool",
            "name": "Shop pool",
            "type": "service_pool",
            "min_up": "66%",
            "attributes": {"deploy": deploy},
        },
    ]
    cis += [
        {
            "key": i.key,
            "name": i.key,
            "type": "instance",
            "attributes": {"port": i.port, "lb_server": i.lb_server},
        }
        for i in instances
    ]
    rels = [
        {"source": "shop", "type": "depends_on", "target": "shop-app"},
        {"source": "shop-app", "type": "depends_on", "target": "shop-pool"},
    ] + [{"source": i.key, "type": "member_of", "target": "shop-pool"} for i in instances]
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
        answer = client.post("/api/v1/cmdb/import", json={"cis": cis, "relationships": rels})
        answer.raise_for_status()


def deploy(server: Server, version: str, bake_s: float) -> dict[str, Any]:
    """Open an (auto-approved) change, deploy the version, and wait for the run to end."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
        change = client.post(
            "/api/v1/changes",
            json={
                "service": "shop",
                "title": f"Deploy {version}",
                "version": version,
                "code_metrics": {"la": 12, "ld": 3, "nf": 2},
            },
        ).json()
        if change["state"] != "scheduled":
            raise RuntimeError(f"change not auto-approved: {change['state']}")
        run = client.post(
            "/api/v1/deployments",
            json={
                "pool": "shop-pool",
                "version": version,
                "change_id": change["id"],
                "settings": {"bake_s": bake_s, "drain_timeout_s": 30, "poll_s": 0.05},
            },
        )
        if run.status_code != 201:
            raise RuntimeError(f"deployment refused: {run.text}")
        url = f"/api/v1/deployments/{run.json()['id']}"
        while True:
            found: dict[str, Any] = client.get(url).json()
            if found["state"] in FINAL:
                return found
            time.sleep(0.25)


def lower_bound_s(run: dict[str, Any]) -> float:
    """The sum over batches of drain + start + health + bake, as they took."""
    return sum(
        _at(s["finished_at"]) - _at(s["started_at"])
        for s in run["steps"]
        if s["phase"] == "deploy" and s["action"] in LOWER_BOUND_ACTIONS
    )


def naive_restart(
    target: LocalTarget,
    haproxy: HaproxyProcess,
    instances: list[Instance],
    version: str,
    *,
    all_at_once: bool,
) -> tuple[float, float]:
    """Restart without the load balancer's help; (start, end) wall-clock times."""
    began = time.time()
    groups = [instances] if all_at_once else [[i] for i in instances]
    for group in groups:
        for instance in group:
            target.stop(instance, timeout_s=10)
        for instance in group:
            target.start(instance, version=version)
        for instance in group:
            wait_until(lambda i=instance: target.healthy(i))
    lb = haproxy.load_balancer
    wait_until(lambda: all(s.status.startswith("UP") for s in lb.stats("storefront")))
    return began, time.time()


def phase(outcomes: Outcomes, start: float, end: float) -> dict[str, int]:
    """Requests and failures in a time range."""
    requests, failed = outcomes.between(start, end)
    return {"requests": requests, "failed_requests": failed}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Everything, in one run; returns the figures."""
    ports = [free_port() for _ in range(args.instances)]
    instances = [Instance(f"shop-{i}", "127.0.0.1", p, f"s{i}") for i, p in enumerate(ports)]
    target = LocalTarget(work / "instances")
    for instance in instances:
        target.start(instance, version="v1")
    for instance in instances:
        wait_until(lambda i=instance: target.healthy(i))
    config = HaproxyConfig(
        socket_path=work / "haproxy.sock",
        frontend_port=free_port(),
        servers=[Backend(i.lb_server or i.key, i.port) for i in instances],
        check_interval_ms=200,
    )
    haproxy = HaproxyProcess(config, work / "haproxy").start()
    try:
        with running_server(f"sqlite:///{work}/flywheel.db", work / "home") as server:
            seed_cmdb(server, instances, config.socket_path, work / "instances")
            return measure(args, server, target, haproxy, instances, config.frontend_port)
    finally:
        haproxy.stop()
        target.stop_all()


def measure(
    args: argparse.Namespace,
    server: Server,
    target: LocalTarget,
    haproxy: HaproxyProcess,
    instances: list[Instance],
    port: int,
) -> dict[str, Any]:
    """The four phases under one steady load."""
    load = CustomerLoad(port, rate=args.rate, threads=args.threads).start()
    time.sleep(3)
    progress("rolling bounce to v2")
    rolling = deploy(server, "v2", args.bake)
    time.sleep(2)
    progress("baseline: stop all, start all")
    all_at_once = naive_restart(target, haproxy, instances, "v3", all_at_once=True)
    time.sleep(2)
    progress("baseline: stop-start one by one without draining")
    one_by_one = naive_restart(target, haproxy, instances, "v4", all_at_once=False)
    time.sleep(2)
    progress("faulty release")
    faulty = deploy(server, "v5-faulty", args.bake)
    time.sleep(1)
    outcomes = load.stop()
    started, finished = _at(rolling["started_at"]), _at(rolling["finished_at"])
    bad = next(s for s in faulty["steps"] if s["action"] == "enable" and s["phase"] == "deploy")
    bad_at, undone_at = _at(bad["finished_at"]), _at(faulty["finished_at"])
    rolled = phase(outcomes, started, finished)
    bound = lower_bound_s(rolling)
    total_s = outcomes.items[-1][0] - outcomes.items[0][0]
    return {
        "requests": rolled["requests"],
        "failed_requests": rolled["failed_requests"],
        "deployment_state": rolling["state"],
        "batches": rolling["plan"]["batches"],
        "baseline_failed_requests": {
            "stop_all_start_all": phase(outcomes, *all_at_once),
            "one_by_one_without_drain": phase(outcomes, *one_by_one),
        },
        "deploy_seconds": round(finished - started, 2),
        "plan_lower_bound_seconds": round(bound, 2),
        "deploy_over_lower_bound": round((finished - started) / bound, 3) if bound else None,
        "faulty_state": faulty["state"],
        "faulty_reason": faulty["status_reason"],
        "rollback_seconds": round(undone_at - bad_at, 2),
        "rollback_failed_requests": phase(outcomes, bad_at, undone_at)["failed_requests"],
        "load": {
            "requests": len(outcomes.items),
            "seconds": round(total_s, 1),
            "rate_per_s": round(len(outcomes.items) / total_s, 1),
        },
    }


def main() -> None:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=6)
    parser.add_argument("--bake", type=float, default=5.0, help="Bake seconds per batch.")
    parser.add_argument("--rate", type=float, default=400.0, help="Customer requests per second.")
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fw-rolling-") as work:
        figures = run(args, Path(work))
    figures = {
        "benchmark": "rolling_bounce",
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "config": vars(args),
        "targets": {"failed_requests": 0, "deploy_over_lower_bound_max": 1.25},
        **figures,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
