"""An alert storm through a real server's Alertmanager webhook, SQLite then PostgreSQL (issue 7).

Starts `python -m flywheel serve` on a fresh database (after `flywheel init` for a token),
adds SERVICES business services to the CMDB and an Alertmanager integration, then posts
ALERTS alerts from FINGERPRINTS distinct alerts in Alertmanager v4 batches of BATCH, from
CLIENTS concurrent clients (asyncio + httpx, one connection each).

Fingerprint i belongs to service i % SERVICES and an instance the CMDB does not know, so
the integration's rules map it to its service's business service: the storm must open
exactly SERVICES incidents. Every fingerprint is sent ALERTS / FINGERPRINTS times, firing;
with --resolve the last round sends them resolved, and every incident must resolve.
Latency is measured by the client from sending a batch to reading the answer (the client
shares the machine's cores with the server). Progress goes to stderr, one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from change_decisions import (
    DEFAULT_POSTGRES,
    Server,
    percentile,
    profile,
    progress,
    running_server,
    scratch_database,
    server_log_counts,
    source_revision,
)

TARGET_RATE = 5000.0
TARGET_P99_MS = 200.0
ALERTNAMES = ("HighErrorRate", "HighLatency", "PodRestarting", "DiskFilling")


@dataclass
class Tally:
    """What the clients saw."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    opened: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)


def alert(number: int, services: int, status: str, now: str) -> dict[str, Any]:
    """Fingerprint `number` as Alertmanager sends it."""
    service = f"storm-svc-{number % services:02d}"
    return {
        "status": status,
        "labels": {
            "alertname": ALERTNAMES[number % len(ALERTNAMES)],
            "service": service,
            "instance": f"{service}-host-{number // services:03d}:9100",
            "severity": ("critical", "warning")[number % 2],
        },
        "annotations": {"summary": f"alert {number} on {service}"},
        "startsAt": "2026-03-01T12:00:00Z",
        "endsAt": now if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.example/graph?g0.expr=alert{number}",
        "fingerprint": f"{number:016x}",
    }


def batches(args: argparse.Namespace, status: str, rounds: int) -> list[dict[str, Any]]:
    """The webhook bodies of `rounds` rounds over every fingerprint, in sending order.

    Alertmanager sends one aggregation group per webhook call; with `group_by: [service]`
    a call carries alerts of one service, which is what a batch is here. With --mixed
    every batch spans all services instead (the worst case: each locks every service).
    """
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    per_service = args.fingerprints // args.services
    if args.mixed:
        order = list(range(args.fingerprints))
    else:
        order = [s + args.services * k for s in range(args.services) for k in range(per_service)]
    bodies = []
    for _ in range(rounds):
        for start in range(0, len(order), args.batch):
            numbers = order[start : start + args.batch]
            bodies.append(
                {
                    "version": "4",
                    "groupKey": f'storm:{{}}:{{service="{numbers[0] % args.services}"}}',
                    "truncatedAlerts": 0,
                    "status": status,
                    "receiver": "flywheel",
                    "groupLabels": {},
                    "commonLabels": {},
                    "commonAnnotations": {},
                    "externalURL": "http://alertmanager.example",
                    "alerts": [alert(n, args.services, status, now) for n in numbers],
                }
            )
    return bodies


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children (workers)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def seed(server: Server, services: int) -> str:
    """The business services in the CMDB and an Alertmanager integration; its token."""
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30) as api:
        cis = [
            {"key": f"storm-svc-{i:02d}", "name": f"Storm {i}", "type": "business_service"}
            for i in range(services)
        ]
        api.post("/cmdb/import", json={"cis": cis}).raise_for_status()
        made = api.post("/integrations", json={"name": "storm"})
        made.raise_for_status()
    return str(made.json()["token"])


async def client(http: httpx.AsyncClient, queue: asyncio.Queue[bytes], tally: Tally) -> None:
    """One Alertmanager-like sender: posts batches until the queue is empty."""
    while not queue.empty():
        body = queue.get_nowait()
        began = time.perf_counter()
        try:
            response = await http.post("/api/v1/integrations/alertmanager", content=body)
        except httpx.HTTPError as exc:
            tally.errors[type(exc).__name__] += 1
            continue
        tally.latencies_ms.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            tally.errors[str(response.status_code)] += 1
            continue
        answer = response.json()
        tally.alerts += answer["received"]
        tally.opened.update(answer["incidents_opened"])
        tally.resolved.update(answer["incidents_resolved"])


async def storm(
    server: Server, token: str, phases: list[list[dict[str, Any]]], clients: int
) -> tuple[Tally, float]:
    """Send each phase's batches with `clients` concurrent senders, one phase after the other.

    The resolving round is a phase of its own: sent concurrently with firing re-sends, a
    late re-send would (rightly) fire the alert again.
    """
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # Encoded before the clock starts: Alertmanager (Go) spends next to nothing on it, and
    # this client shares the machine's two cores with the server.
    encoded = [[json.dumps(body).encode() for body in bodies] for bodies in phases]
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, limits=limits, timeout=120
    ) as http:
        began = time.monotonic()
        for bodies in encoded:
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            for body in bodies:
                queue.put_nowait(body)
            await asyncio.gather(*(client(http, queue, tally) for _ in range(clients)))
    return tally, time.monotonic() - began


def stored(server: Server) -> dict[str, int]:
    """What the server holds afterwards, read through the API."""
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=60) as api:
        incidents = api.get("/incidents", params={"limit": 500}).json()["items"]
        alerts = 0
        for incident in incidents:
            alerts += api.get(f"/incidents/{incident['id']}").json()["alert_count"]
    return {
        "incidents": len(incidents),
        "incidents_resolved": sum(i["state"] == "resolved" for i in incidents),
        "alerts": alerts,
    }


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start a server on a scratch database of the backend and storm it."""
    rounds = args.alerts // args.fingerprints
    firing = batches(args, "firing", rounds - 1 if args.resolve else rounds)
    phases = [firing, batches(args, "resolved", 1)] if args.resolve else [firing]
    with (
        scratch_database(backend, args.postgres_url) as url,
        tempfile.TemporaryDirectory(prefix="flywheel-bench-home-") as home,
        running_server(url, Path(home), args.workers) as server,
    ):
        token = seed(server, args.services)
        count = sum(len(p) for p in phases)
        progress(f"{backend}: {count} batches of {args.batch} from {args.clients} clients")
        load_before = os.getloadavg()
        out = f"{args.profile}-{backend}.txt" if args.profile else ""
        spy = profile(server.process.pid, args.profile_seconds, out)
        server_cpu, client_cpu = cpu_seconds(server.process.pid), time.process_time()
        tally, seconds = asyncio.run(storm(server, token, phases, args.clients))
        server_cpu = cpu_seconds(server.process.pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        if spy is not None:
            spy.wait(timeout=120)
        load_after = os.getloadavg()
        held = stored(server)
        logged = server_log_counts(server.log)
    batches_sent = max(1, len(tally.latencies_ms))
    result = summarize(tally, seconds, args, held) | {
        "server_cpu_ms_per_batch": round(server_cpu * 1000 / batches_sent, 2),
        "client_cpu_ms_per_batch": round(client_cpu * 1000 / batches_sent, 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "server_log": logged,
    }
    progress(f"{backend}: {json.dumps(result)}")
    return result


def summarize(
    tally: Tally, seconds: float, args: argparse.Namespace, held: dict[str, int]
) -> dict[str, Any]:
    """The figures of one backend, and whether the storm was absorbed exactly."""
    rate = tally.alerts / seconds
    p99 = percentile(tally.latencies_ms, 0.99)
    expected_resolved = args.services if args.resolve else 0
    exact = (
        len(tally.opened) == args.services
        and held["incidents"] == args.services
        and held["alerts"] == args.fingerprints
        and held["incidents_resolved"] == expected_resolved
        and tally.alerts == args.alerts
        and not tally.errors
    )
    return {
        "status": "ok",
        "seconds": round(seconds, 2),
        "alerts_sent": tally.alerts,
        "alerts_per_s": round(rate, 1),
        "requests": len(tally.latencies_ms),
        "latency_ms": {
            "p50": percentile(tally.latencies_ms, 0.50),
            "p95": percentile(tally.latencies_ms, 0.95),
            "p99": p99,
            "max": round(max(tally.latencies_ms), 1) if tally.latencies_ms else None,
            "mean": round(statistics.fmean(tally.latencies_ms), 1) if tally.latencies_ms else None,
        },
        "incidents_opened": len(tally.opened),
        "incidents_expected": args.services,
        "incidents_resolved": len(tally.resolved),
        "stored": held,
        "errors": dict(tally.errors),
        "exact": exact,
        "targets_met": exact and p99 is not None and p99 < TARGET_P99_MS and rate >= TARGET_RATE,
    }


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--alerts", type=int, default=100_000, help="alerts in the storm")
    parser.add_argument("--fingerprints", type=int, default=2_000, help="distinct alerts")
    parser.add_argument("--services", type=int, default=20, help="services (= incidents)")
    parser.add_argument("--batch", type=int, default=100, help="alerts per webhook call")
    parser.add_argument("--clients", type=int, default=4, help="concurrent senders")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--resolve", action="store_true", help="the last round resolves every alert"
    )
    parser.add_argument(
        "--profile", default="", help="py-spy raw stacks of the server to PREFIX-<backend>.txt"
    )
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument(
        "--mixed", action="store_true", help="batches span all services (worst case)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FLYWHEEL_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="PostgreSQL server on which to create (and drop) a scratch database",
    )
    args = parser.parse_args()
    if args.alerts % args.fingerprints or args.fingerprints % args.services:
        parser.error("--alerts must be a multiple of --fingerprints, and those of --services")
    if not args.mixed and (args.fingerprints // args.services) % args.batch:
        parser.error("without --mixed, each service's fingerprints must fill whole batches")
    return args


def main() -> None:
    """Run the benchmark and print one JSON line."""
    args = parse_args()
    chosen = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    backends: dict[str, Any] = {}
    for backend in chosen:
        try:
            backends[backend] = run_backend(backend, args)
        except (SQLAlchemyError, OSError) as exc:
            progress(f"{backend} skipped: {exc}")
            backends[backend] = {"status": "skipped", "reason": str(exc).splitlines()[0]}
    measured = [b for b in backends.values() if b["status"] == "ok"]
    summary = {
        "benchmark": "alert_storm",
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "source": source_revision(),
        "config": {
            k: getattr(args, k)
            for k in (
                "alerts",
                "fingerprints",
                "services",
                "batch",
                "clients",
                "workers",
                "resolve",
            )
        },
        "targets": {"min_alerts_per_s": TARGET_RATE, "p99_ms_below": TARGET_P99_MS},
        "backends": backends,
        "targets_met": bool(measured) and all(b["targets_met"] for b in measured),
    }
    print(json.dumps(summary), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
