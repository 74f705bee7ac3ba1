"""The living part of the scenario: real storefront instances, customers, and a pipeline."""

from __future__ import annotations

import contextlib
import http.client
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from flywheel.demo.incidents import ErrorWatch
from flywheel.deploy.drivers.base import DriverError, Instance
from flywheel.deploy.drivers.haproxy import Backend, HaproxyConfig, HaproxyProcess, haproxy_binary
from flywheel.deploy.drivers.local import LocalTarget

log = logging.getLogger("flywheel.demo")
BACKEND = "storefront"


@dataclass
class LivePool:
    """The storefront's instances as local processes, behind HAProxy when it is installed."""

    home: Path
    ports: list[int]
    frontend_port: int
    target: LocalTarget = field(init=False)
    haproxy: HaproxyProcess | None = None

    def __post_init__(self) -> None:
        self.target = LocalTarget(self.home / "instances")

    @property
    def instances(self) -> list[Instance]:
        """The pool's members as the drivers see them."""
        return [
            Instance(f"storefront-{n + 1}", "127.0.0.1", port, f"s{n + 1}")
            for n, port in enumerate(self.ports)
        ]

    @property
    def deploy_settings(self) -> dict[str, Any]:
        """What the pool's CMDB attributes say about deploying it."""
        target = {"driver": "local", "state_dir": str(self.target.state_dir)}
        if self.haproxy is None:
            return {"target": target, "load_balancer": {"driver": "none"}}
        socket = str(self.haproxy.config.socket_path)
        lb = {"driver": "haproxy", "socket": socket, "backend": BACKEND}
        return {"target": target, "load_balancer": lb}

    def start(self) -> str:
        """Start every instance on 1.0.0 (if none runs) and HAProxy; say how traffic flows."""
        for instance in self.instances:
            if self.target.running_version(instance) is None:
                self.target.start(instance, version="1.0.0")
        if haproxy_binary() is None:
            return "HAProxy is not installed: customers reach the instances directly"
        config = HaproxyConfig(
            socket_path=self.home / "haproxy.sock",
            frontend_port=self.frontend_port,
            servers=[Backend(i.lb_server or i.key, i.port) for i in self.instances],
            backend=BACKEND,
            check_interval_ms=500,
        )
        try:
            self.haproxy = HaproxyProcess(config, self.home / "haproxy").start()
        except DriverError as exc:
            return f"HAProxy did not start ({exc}): customers reach the instances directly"
        return f"customers reach the storefront through HAProxy on port {self.frontend_port}"

    def stop(self) -> None:
        """Stop HAProxy and the instances."""
        if self.haproxy is not None:
            self.haproxy.stop()
        self.target.stop_all()


class Customers(threading.Thread):
    """A trickle of shoppers, so that deployments have traffic to judge."""

    def __init__(self, pool: LivePool, rate: float, watch: ErrorWatch | None = None) -> None:
        super().__init__(daemon=True, name="demo-customers")
        self.pool, self.rate = pool, rate
        self.watch = watch or ErrorWatch()
        self.stopping = threading.Event()

    def _ports(self) -> list[int]:
        return [self.pool.frontend_port] if self.pool.haproxy else self.pool.ports

    def run(self) -> None:
        n = 0
        while not self.stopping.wait(1 / self.rate):
            ports = self._ports()
            conn = http.client.HTTPConnection("127.0.0.1", ports[n % len(ports)], timeout=5)
            failed = True
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn.request("GET", "/api/products" if n % 3 else "/")
                answer = conn.getresponse()
                answer.read()
                failed = answer.status >= 500
            conn.close()
            self.watch.record(failed)
            n += 1


@dataclass
class Pipeline:
    """A CI/CD pipeline: opens a change every tick, deploys the approved ones."""

    url: str
    token: str
    tick_s: float
    bake_s: float
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    release: int = 0

    def _client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=30)

    def _metrics(self, risky: bool) -> dict[str, float]:
        if risky:
            return {"la": self.rng.randint(2000, 6000), "ld": 800, "nf": 40, "ndev": 9}
        return {"la": self.rng.randint(5, 60), "ld": self.rng.randint(0, 20), "nf": 2}

    def open_change(self, client: httpx.Client) -> dict[str, Any]:
        """A new storefront version; now and then a risky one, now and then a faulty one."""
        self.release += 1
        faulty = self.release % 5 == 0
        version = f"1.{self.release}.0{'-faulty' if faulty else ''}"
        body = {
            "service": "storefront",
            "title": f"Storefront {version}",
            "version": version,
            "code_metrics": self._metrics(risky=self.release % 7 == 3),
            "external_id": f"demo-pipeline-{self.release}-{int(time.time())}",
        }
        answer = client.post("/changes", json=body)
        answer.raise_for_status()
        change: dict[str, Any] = answer.json()
        log.info("pipeline opened %s (%s): %s", change["number"], version, change["state"])
        return change

    def deploy_approved(self, client: httpx.Client) -> None:
        """Deploy the oldest approved storefront change that has no deployment yet."""
        busy = client.get("/deployments", params={"service": "storefront", "limit": 500}).json()
        if any(
            d["state"] in ("pending", "running", "paused", "rolling_back") for d in busy["items"]
        ):
            return
        done = {d["change_id"] for d in busy["items"]}
        changes = client.get("/changes", params={"service": "storefront", "state": "scheduled"})
        waiting = [c for c in changes.json()["items"] if c["id"] not in done]
        if not waiting:
            return
        change = waiting[0]
        body = {
            "service": "storefront",
            "version": change["version"],
            "change_id": change["id"],
            "settings": {"bake_s": self.bake_s, "max_unavailable": 1, "min_requests": 8},
        }
        answer = client.post("/deployments", json=body)
        if answer.status_code != 201:
            log.warning("pipeline could not deploy %s: %s", change["version"], answer.text)

    def run_forever(self, stopping: threading.Event) -> None:
        """Tick until told to stop; errors are logged, never fatal."""
        with self._client() as client:
            while not stopping.is_set():
                try:
                    self.open_change(client)
                    self.deploy_approved(client)
                except httpx.HTTPError as exc:
                    log.warning("demo pipeline: %s", exc)
                stopping.wait(self.tick_s)
