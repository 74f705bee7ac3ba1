"""Two API processes and two workers on one PostgreSQL database; one of each is killed mid-way.

The pipeline traffic (changes with Idempotency-Key, retried on the other API when a
connection breaks), an alert storm that pages through escalation policies, and rolling
deployments with real HAProxy and real instances all go on. Afterwards nothing the
clients sent is missing or doubled, every step of every run was done once (the step in
flight at the kill once more, by the survivor), and no customer request failed.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.deploy_support import LoadGenerator, describe_pool, running_pool
from tests.e2e.conftest import FLYWHEEL, _wait_ready
from tests.factories import am_alert, am_payload
from tests.integration.incident.notify_support import webhook_server
from tests.support import free_port, fresh_postgres_database, postgres_server_url, require_component

FINAL = {"succeeded", "rolled_back", "failed", "aborted"}
SERVICES = [f"svc-{n}" for n in range(6)]
COMMIT = {"sha": "a" * 40, "author": "dev@example.com", "authored_at": "2026-11-27T00:00:00Z"}


@dataclass
class Process:
    """One `flywheel serve --api-only` or `flywheel worker`, killable as a process group."""

    name: str
    args: list[str]
    env: dict[str, str]
    popen: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.popen = subprocess.Popen(
            [*FLYWHEEL, *self.args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def kill(self) -> None:
        assert self.popen is not None
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Pipelines:
    """Opens changes through both APIs in turn; a broken connection is retried on the other."""

    urls: list[str]
    headers: dict[str, str]
    sent: list[str] = field(default_factory=list)
    answered: Counter[int] = field(default_factory=Counter)
    retried: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        turn = itertools.cycle(range(len(self.urls)))
        for n in itertools.count():
            if self.stop.is_set():
                return
            key = f"run-{n}"
            self.sent.append(key)
            self._open(key, next(turn))

    def _open(self, key: str, first: int) -> None:
        body = {
            "service": SERVICES[hash(key) % len(SERVICES)],
            "title": f"Deploy {key}",
            "version": key,
            "external_id": key,
            "commits": [COMMIT],
        }
        headers = {**self.headers, "Idempotency-Key": key}
        for attempt in range(40):
            url = self.urls[(first + attempt) % len(self.urls)]
            try:
                answer = httpx.post(f"{url}/api/v1/changes", json=body, headers=headers, timeout=30)
            except httpx.TransportError:
                self.retried += 1
                time.sleep(0.1)
                continue
            self.answered[answer.status_code] += 1
            return
        raise AssertionError(f"{key}: no API answered")


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "FLYWHEEL_HOME": str(tmp_path / "home"),
        "FLYWHEEL_DATABASE_URL": url,
        "FLYWHEEL_LOG_LEVEL": "warning",
        "FLYWHEEL_WORKER_HEARTBEAT_S": "0.5",
        "FLYWHEEL_WORKER_DEAD_AFTER_S": "3",
        "FLYWHEEL_NOTIFY_WORKER_INTERVAL_S": "0.2",
        "FLYWHEEL_SLO_ALERT_MINUTES": "0",
        "FLYWHEEL_RATE_LIMIT_ENABLED": "false",
    }


@pytest.fixture
def postgres_url() -> Iterator[str]:
    server = postgres_server_url()
    require_component(server is not None, "no PostgreSQL server: set FLYWHEEL_TEST_POSTGRES_URL")
    assert server is not None
    with fresh_postgres_database(server, prefix="flywheel_scaleout") as url:
        yield url


def _setup(api: httpx.Client, hook_url: str) -> str:
    for key in SERVICES:
        assert api.post(
            "/cis", json={"key": key, "name": key, "type": "business_service"}
        ).is_success
    contact = {"channel": "webhook", "address": hook_url}
    assert api.post("/users/admin/contact-methods", json=contact).status_code == 201
    policy = {
        "key": "everyone",
        "name": "Everyone",
        "default": True,
        "steps": [{"targets": [{"kind": "user", "ref": "admin"}], "wait_minutes": 60}],
    }
    assert api.post("/escalation-policies", json=policy).status_code == 201, "policy"
    return str(api.post("/integrations", json={"name": "am"}).json()["token"])


def _runner_of_running_step(api: httpx.Client, run_id: int) -> str | None:
    steps = api.get(f"/deployments/{run_id}").json()["steps"]
    running = [s for s in steps if s["state"] == "running"]
    return running[-1]["detail"]["runners"][-1] if running else None


def _wait_final(api: httpx.Client, run_id: int, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = api.get(f"/deployments/{run_id}").json()
        if run["state"] in FINAL:
            return dict(run)
        time.sleep(0.2)
    raise AssertionError(f"deployment {run_id} never finished: {run['state']}")


def test_killing_an_api_and_a_worker_loses_nothing_and_does_nothing_twice(
    tmp_path: Path, postgres_url: str
) -> None:
    env = _env(tmp_path, postgres_url)
    init = subprocess.run([*FLYWHEEL, "init"], env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    token = init.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    ports = [free_port(), free_port()]
    apis = [
        Process(f"api-{n}", ["serve", "--api-only", "--no-upgrade", "--port", str(port)], env)
        for n, port in enumerate(ports, 1)
    ]
    workers = [Process(f"worker-{n}", ["worker", "--name", f"worker-{n}"], env) for n in (1, 2)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    processes = [*apis, *workers]
    try:
        for process in processes:
            process.start()
        for url, api_process in zip(urls, apis, strict=True):
            assert api_process.popen is not None
            _wait_ready(url, api_process.popen)
        _run_the_scenario(tmp_path, urls, headers, apis, workers, postgres_url)
    finally:
        for process in processes:
            process.stop()


def _run_the_scenario(
    tmp_path: Path,
    urls: list[str],
    headers: dict[str, str],
    apis: list[Process],
    workers: list[Process],
    database_url: str,
) -> None:
    with (
        webhook_server() as hook,
        httpx.Client(base_url=f"{urls[1]}/api/v1", headers=headers, timeout=30) as api,
        running_pool(tmp_path / "pool", size=3, version="v1") as pool,
    ):
        alert_token = _setup(api, hook.url())
        describe_pool(pool, urls[1], headers)
        pipelines = Pipelines(urls, headers)
        traffic = threading.Thread(target=pipelines.run, daemon=True)
        with LoadGenerator(pool.frontend_port) as load:
            traffic.start()
            settings = {"batch_size": 1, "bake_s": 1.5, "health_timeout_s": 20}
            body = {
                "pool": "shop-pool",
                "version": "v2",
                "environment": "staging",
                "settings": settings,
            }
            first = httpx.post(
                f"{urls[0]}/api/v1/deployments", json=body, headers=headers, timeout=30
            )
            assert first.status_code == 201, first.text
            run_id = first.json()["id"]
            for n, service in enumerate(SERVICES[:3]):  # paging before the kill
                _alert(urls[n % 2], alert_token, service)
            victim = _wait_for_batch_1(api, run_id)
            apis[0].kill()
            killed = next(w for w in workers if w.name == victim)
            survivor = next(w for w in workers if w.name != victim)
            killed.kill()
            for service in SERVICES[3:]:  # paging after the kill, through the survivor
                _alert(urls[1], alert_token, service)
            run = _wait_final(api, run_id)
            second = api.post("/deployments", json={**body, "version": "v3"})
            assert second.status_code == 201, second.text
            run_2 = _wait_final(api, second.json()["id"])
            pipelines.stop.set()
            traffic.join(60)
        _wait_for_pages(hook, len(SERVICES))
        _check_runs(run, run_2, killed.name, survivor.name)
        assert load.result.failed == 0, load.result.failures
        assert {pool.target.running_version(i) for i in pool.instances} == {"v3"}
    _check_changes(database_url, pipelines)
    _check_pages(database_url, hook)
    _check_recovery(database_url, killed.name, survivor.name)


def _alert(url: str, token: str, service: str) -> None:
    payload = am_payload(am_alert(f"fp-{service}", service=service, severity="critical"))
    for _attempt in range(20):
        try:
            sent = httpx.post(
                f"{url}/api/v1/integrations/alertmanager?token={token}", json=payload, timeout=30
            )
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        assert sent.is_success, sent.text
        return
    raise AssertionError("alert not accepted")


def _wait_for_batch_1(api: httpx.Client, run_id: int) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        steps = api.get(f"/deployments/{run_id}").json()["steps"]
        if any(s["batch"] == 1 and s["action"] in {"stop", "start", "health"} for s in steps):
            runner = _runner_of_running_step(api, run_id)
            if runner:
                return runner
        time.sleep(0.05)
    raise AssertionError("the run never reached batch 1")


def _wait_for_pages(hook: Any, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len({m.json["incident"] for m in hook.received}) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"paged {len(hook.received)} times, expected {count} incidents")


def _check_runs(run: dict[str, Any], run_2: dict[str, Any], killed: str, survivor: str) -> None:
    assert run["state"] == "succeeded", run["status_reason"]
    assert run_2["state"] == "succeeded", run_2["status_reason"]
    seqs = [s["seq"] for s in run["steps"]]
    assert seqs == sorted(set(seqs)), "every step recorded once"
    assert all(s["state"] == "done" for s in run["steps"])
    repeated = [s for s in run["steps"] if len(s["detail"]["runners"]) > 1]
    assert len(repeated) <= 1, repeated  # only the step in flight at the kill
    for step in repeated:
        assert step["detail"]["runners"] == [killed, survivor], step
    runners = [s["detail"]["runners"][-1] for s in run["steps"]]
    assert runners[-1] == survivor and killed in runners
    assert all(s["detail"]["runners"] == [survivor] for s in run_2["steps"])


def _check_changes(database_url: str, pipelines: Pipelines) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT external_id, count(*) FROM changes GROUP BY external_id"))
        stored: dict[str, int] = {key: count for key, count in rows}  # noqa: C416
    engine.dispose()
    assert len(pipelines.sent) > 20 and pipelines.answered[201] + pipelines.answered[200] > 0
    assert set(pipelines.answered) <= {200, 201}, pipelines.answered
    assert {key: stored.get(key, 0) for key in pipelines.sent} == dict.fromkeys(pipelines.sent, 1)


def _check_pages(database_url: str, hook: Any) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT incident_id, count(id), max(attempts) FROM notification_deliveries"
                " WHERE event = 'opened' GROUP BY incident_id"
            )
        ).all()
    engine.dispose()
    assert len(rows) == len(SERVICES)
    opened = [m.json for m in hook.received if m.json["event"] == "opened"]
    received = Counter(message["incident_id"] for message in opened)
    for number, deliveries, attempts in rows:
        assert deliveries == 1, f"{number} paged by {deliveries} deliveries"
        if attempts == 1:  # sent once; only a send cut by the kill may be sent again
            assert received[number] == 1, f"{number} received {received[number]} times"


def _check_recovery(database_url: str, killed: str, survivor: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT recovered_by FROM worker_processes WHERE id = :id"), {"id": killed}
        ).one()
    engine.dispose()
    assert row.recovered_by == survivor
