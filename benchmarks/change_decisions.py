"""Change decisions per second through a real server, SQLite then PostgreSQL (issue 4).

Starts `python -m flywheel serve` on a fresh database (after `flywheel init` for a token),
seeds a few low-criticality business services through the API, then runs N simulated
pipelines at once (asyncio + httpx, one connection each): every pipeline opens changes in
a loop, each with a unique external_id and the Idempotency-Key the CLI derives from it,
small code metrics so the built-in policy auto-approves them (with --deploy it also starts
and completes each approved change). Latency is measured by the client from sending the
POST to reading the answer (the client shares the machine's cores with the server).
Progress goes to stderr, one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from scratch import postgres_database
from servers import Server, running_server

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_P99_MS = 100.0
TARGET_RATE = 300.0
METRICS = {"la": 12, "ld": 3, "nf": 2}


@dataclass
class Tally:
    """What the pipelines saw during one timed phase."""

    latencies_ms: list[float] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    finished_at: list[float] = field(default_factory=list)

    def record(self, status: int, body: dict[str, Any] | None, elapsed_ms: float) -> None:
        """Count one answer; only auto-approved decisions enter the latency figures."""
        if not 200 <= status < 300 or body is None:
            self.errors[str(status)] += 1
            return
        self.states[body["state"]] += 1
        self.finished_at.append(time.monotonic())
        if body["state"] == "scheduled":
            self.latencies_ms.append(elapsed_ms)


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile of values (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered)))
    return round(ordered[min(rank, len(ordered)) - 1], 1)


def progress(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


@contextmanager
def scratch_database(backend: str, postgres_url: str) -> Iterator[str]:
    """A new, empty database for one backend; removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="flywheel-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'flywheel.db'}"
        return
    with postgres_database(postgres_url) as url:
        yield url


def server_log_counts(log: Path) -> dict[str, int]:
    """How often the server logged an unexpected error or a busy/unavailable database."""
    text = log.read_text(errors="replace")
    return {
        "unexpected_error": text.count("unexpected error"),
        "database_unavailable": text.count("database unavailable"),
        "database_is_locked": text.count("database is locked"),
    }


def seed(server: Server, services: int) -> tuple[list[str], str]:
    """Low-criticality business services and a developer's token for the pipelines."""
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30) as api:
        keys = [f"shop-svc-{i}" for i in range(services)]
        for key in keys:
            ci = {"key": key, "name": key, "type": "business_service", "criticality": 4}
            api.post("/cis", json=ci).raise_for_status()
        user = {"username": "bench-pipeline", "roles": ["developer"]}
        api.post("/users", json=user).raise_for_status()
        made = api.post("/tokens", json={"name": "bench", "username": "bench-pipeline"})
        made.raise_for_status()
    return keys, str(made.json()["token"])


def change_body(service: str, number: int, run: int) -> dict[str, Any]:
    """A small, low-risk change as a pipeline run opens it, with a unique external_id."""
    return {
        "service": service,
        "title": f"Deploy {service} build {run}",
        "version": f"1.0.{run}",
        "commits": [{"sha": secrets.token_hex(20), "author": f"dev{number}"}],
        "code_metrics": METRICS,
        "external_id": f"p{number}-r{run}-{uuid.uuid4().hex[:8]}",
    }


async def deploy(client: httpx.AsyncClient, change: dict[str, Any], tally: Tally) -> None:
    """Start and complete an approved change, as the pipeline's deployment step would."""
    for action, body in (("start", None), ("complete", {"close_code": "successful"})):
        response = await client.post(f"/changes/{change['id']}/{action}", json=body)
        if not response.is_success:
            tally.errors[f"{action}:{response.status_code}"] += 1
            return


async def pipeline(
    client: httpx.AsyncClient, number: int, service: str, until: float, tally: Tally, args: Any
) -> None:
    """One simulated pipeline: open a change, take the decision (deploy it), open the next."""
    run = 0
    while time.monotonic() < until:
        run += 1
        body = change_body(service, number, run)
        key = f"flywheel-cli:change-open:{body['external_id']}"
        headers = {"Idempotency-Key": key} if args.idempotency_key else {}
        began = time.perf_counter()
        try:
            response = await client.post("/changes", json=body, headers=headers)
        except httpx.HTTPError as exc:
            tally.errors[type(exc).__name__] += 1
            continue
        elapsed = (time.perf_counter() - began) * 1000
        answer = response.json() if response.is_success else None
        tally.record(response.status_code, answer, elapsed)
        if args.deploy and answer is not None and answer["state"] == "scheduled":
            await deploy(client, answer, tally)


async def load(
    server_url: str, token: str, services: list[str], args: argparse.Namespace, seconds: float
) -> tuple[Tally, float]:
    """Run the pipelines for `seconds`; the tally and the wall-clock duration."""
    tally = Tally()
    limits = httpx.Limits(max_connections=args.pipelines, max_keepalive_connections=args.pipelines)
    async with httpx.AsyncClient(
        base_url=f"{server_url}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=60,
    ) as client:
        began = time.monotonic()
        until = began + seconds
        await asyncio.gather(
            *(
                pipeline(client, n, services[n % len(services)], until, tally, args)
                for n in range(args.pipelines)
            )
        )
    return tally, time.monotonic() - began


def windows(tally: Tally, began: float, seconds: float, size: float = 10.0) -> list[float]:
    """Decisions per second in consecutive windows of `size` seconds (the last may be shorter)."""
    counts = Counter(int((t - began) // size) for t in tally.finished_at)
    spans = [min(size, seconds - i * size) for i in range(max(1, math.ceil(seconds / size)))]
    return [round(counts.get(i, 0) / max(span, 1.0), 1) for i, span in enumerate(spans)]


def summarize(tally: Tally, duration: float, began: float) -> dict[str, Any]:
    """The figures of one backend."""
    decided = sum(tally.states.values())
    rate = decided / duration
    p99 = percentile(tally.latencies_ms, 0.99)
    return {
        "status": "ok",
        "seconds": round(duration, 1),
        "decisions": decided,
        "decisions_per_s": round(rate, 1),
        "auto_approved": tally.states.get("scheduled", 0),
        "states": dict(tally.states),
        "latency_ms": {
            "p50": percentile(tally.latencies_ms, 0.50),
            "p95": percentile(tally.latencies_ms, 0.95),
            "p99": p99,
            "max": round(max(tally.latencies_ms), 1) if tally.latencies_ms else None,
            "mean": round(statistics.fmean(tally.latencies_ms), 1) if tally.latencies_ms else None,
        },
        "errors": dict(tally.errors),
        "decisions_per_s_by_10s": windows(tally, began, duration),
        "targets_met": p99 is not None and p99 < TARGET_P99_MS and rate >= TARGET_RATE,
    }


def profile(pid: int, seconds: float, output: str) -> subprocess.Popen[bytes] | None:
    """Sample the server (and its workers) with py-spy during the timed phase, if asked."""
    if not output:
        return None
    py_spy = Path(sys.executable).parent / "py-spy"
    command = [str(py_spy), "record", "--pid", str(pid), "--subprocesses", "--nonblocking"]
    command += ["--duration", str(int(seconds)), "--format", "raw", "--output", output]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in _children(pid))


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start a server on a scratch database of the backend, warm it up, measure."""
    with (
        scratch_database(backend, args.postgres_url) as url,
        tempfile.TemporaryDirectory(prefix="flywheel-bench-home-") as home,
        running_server(url, Path(home), args.workers) as server,
    ):
        services, token = seed(server, args.services)
        progress(f"{backend}: server up at {server.url}; warming up {args.warmup:g}s")
        warm, _ = asyncio.run(load(server.url, token, services, args, args.warmup))
        progress(f"{backend}: {args.pipelines} pipelines for {args.seconds:g}s")
        out = f"{args.profile}-{backend}.txt" if args.profile else ""
        spy = profile(server.process.pid, args.seconds, out)
        began = time.monotonic()
        cpu_before, busy_before = cpu_seconds(server.process.pid), machine_busy_seconds()
        tally, duration = asyncio.run(load(server.url, token, services, args, args.seconds))
        server_cpu = cpu_seconds(server.process.pid) - cpu_before
        machine_cpu = machine_busy_seconds() - busy_before
        if spy is not None:
            spy.wait(timeout=60)
        logged = server_log_counts(server.log)
    result = summarize(tally, duration, began) | {"server_log": logged}
    result["warmup_errors"] = dict(warm.errors)  # a cold start can fail where the phase does not
    decided = max(1, result["decisions"])
    result["cpu_ms_per_decision"] = {
        "server": round(1000 * server_cpu / decided, 1),
        "machine": round(1000 * machine_cpu / decided, 1),
    }
    result["server_cpu_share"] = round(server_cpu / duration, 2)
    result["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    progress(f"{backend}: {json.dumps(result)}")
    return result


def source_revision() -> str:
    """The commit the server ran from, with '+dirty' when the tree had local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        git = ["git", "-C", str(root)]
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        status = subprocess.run([*git, "status", "--porcelain", "--", "src"], capture_output=True)
    except OSError:
        return "unknown"
    dirty = "+dirty" if status.stdout.strip() else ""
    return commit.stdout.decode().strip() + dirty if commit.returncode == 0 else "unknown"


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=60.0, help="timed seconds per backend")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per backend")
    parser.add_argument("--pipelines", type=int, default=50, help="concurrent pipelines")
    parser.add_argument("--services", type=int, default=5, help="services the pipelines deploy")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--no-idempotency-key",
        dest="idempotency_key",
        action="store_false",
        help="send no Idempotency-Key (the CLI sends one with --external-id)",
    )
    parser.add_argument(
        "--deploy",
        action="store_true",
        help="after an approval, start and complete the change (keeps the active set small)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FLYWHEEL_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="PostgreSQL server on which to create (and drop) a scratch database",
    )
    parser.add_argument(
        "--profile", default="", help="py-spy raw stacks of the server to PREFIX-<backend>.txt"
    )
    return parser.parse_args()


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
        "benchmark": "change_decisions",
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "source": source_revision(),
        "config": {
            "seconds": args.seconds,
            "warmup": args.warmup,
            "pipelines": args.pipelines,
            "services": args.services,
            "workers": args.workers,
            "idempotency_key": args.idempotency_key,
            "deploy": args.deploy,
        },
        "targets": {"p99_ms_below": TARGET_P99_MS, "min_decisions_per_s": TARGET_RATE},
        "backends": backends,
        "targets_met": bool(measured) and all(b["targets_met"] for b in measured),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
