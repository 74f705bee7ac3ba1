"""Change decisions per second through a real server, SQLite then PostgreSQL (issue 4).

Starts `python -m flywheel serve` on a fresh database (after `flywheel init` for a token),
seeds a few low-criticality business services through the API, then drives N simulated
pipelines (one lean keep-alive connection each, `lean_http`, on uvloop when installed):
every pipeline opens changes, each with a unique external_id and the Idempotency-Key the
CLI derives from it, small code metrics so the built-in policy auto-approves them (with
--deploy it also starts and completes each approved change). After a warm-up, two phases:

- paced: the pipelines together offer --rate decisions/s, each on its own fixed schedule
  with one request at most in flight; latency counts from the scheduled send time
  (coordinated omission corrected, as wrk2 does), so it is the wait at that rate;
- capacity: closed loop, each pipeline sends again as soon as it has the answer; this
  gives the rate the server sustains (by Little's law its mean latency is only
  pipelines / rate, so it says nothing about the latency at a given rate).

Progress goes to stderr, one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy.exc import SQLAlchemyError

from lean_http import Connection, HttpError
from pacing import (
    Schedule,
    Tally,
    Targets,
    latencies_ms,
    latency_summary,
    pipeline_interval,
    targets_met,
    windows,
)
from proc_cpu import CpuSample, calibration_ms, profile
from scratch import postgres_database
from servers import Server, running_server

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
TARGETS = Targets()
METRICS = {"la": 12, "ld": 3, "nf": 2}
CONFIG = "seconds capacity_seconds rate warmup pipelines services workers idempotency_key deploy"
GRACE_SECONDS = 60.0  # how long a phase waits for answers still in flight at its end
T = TypeVar("T")


def progress(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def run_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, str]:
    """Run a coroutine on uvloop when installed (a cheaper client), else asyncio; and which."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main()), "asyncio"
    return uvloop.run(main()), "uvloop"


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
    """Low-criticality business services and a developer's token (before timing starts)."""
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


class Pipeline:
    """One simulated pipeline on its own keep-alive connection."""

    def __init__(
        self, conn: Connection, number: int, service: str, args: argparse.Namespace
    ) -> None:
        self.conn, self.number, self.service, self.args = conn, number, service, args
        self.run = 0

    async def decide(self, tally: Tally, due: float | None = None) -> None:
        """Open one change (deploy it if asked); latency counts from `due`, else the send."""
        self.run += 1
        body = change_body(self.service, self.number, self.run)
        key = f"flywheel-cli:change-open:{body['external_id']}"
        headers = {"Idempotency-Key": key} if self.args.idempotency_key else None
        sent = time.monotonic()
        tally.requests += 1
        try:
            status, answer = await self.conn.request("POST", "/changes", body, headers)
            done = time.monotonic()
            latency, service = latencies_ms(sent if due is None else due, sent, done)
            decided = tally.record(status, answer, done, latency, service)
            if decided and self.args.deploy and answer["state"] == "scheduled":
                await self.deploy(answer["id"], tally)
        except HttpError as exc:
            tally.errors[str(exc)] += 1

    async def deploy(self, change_id: int, tally: Tally) -> None:
        """Start and complete an approved change, as the pipeline's deployment step would."""
        for action, body in (("start", None), ("complete", {"close_code": "successful"})):
            tally.requests += 1
            status, _ = await self.conn.request("POST", f"/changes/{change_id}/{action}", body)
            if not 200 <= status < 300:
                tally.errors[f"{action}:{status}"] += 1
                return

    async def closed(self, until: float, tally: Tally) -> None:
        """Saturation: the next change as soon as the previous answer is in."""
        while time.monotonic() < until:
            await self.decide(tally)

    async def paced(self, schedule: Schedule, until: float, tally: Tally) -> None:
        """Open changes on the schedule; behind it, send at once and count from the due time."""
        while schedule.due() < until and time.monotonic() < until:
            delay = schedule.due() - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            due, late = schedule.take(time.monotonic())
            tally.late += late
            await self.decide(tally, due)
        tally.unsent += schedule.unsent(until)


async def drive(
    pipelines: list[Pipeline], seconds: float, rate: float | None
) -> tuple[Tally, float, float]:
    """Run every pipeline for `seconds`, paced at `rate` in all or closed loop when None.

    Returns the tally, the start (monotonic) and the duration, which ends when the last
    answer in flight at the deadline is in.
    """
    tally, rng = Tally(), random.Random(0)
    began = time.monotonic()
    until = began + seconds
    if rate is None:
        jobs = [p.closed(until, tally) for p in pipelines]
    else:
        interval = pipeline_interval(len(pipelines), rate)
        jobs = [p.paced(Schedule.starting(began, interval, rng), until, tally) for p in pipelines]
    tasks = [asyncio.ensure_future(job) for job in jobs]
    done, pending = await asyncio.wait(tasks, timeout=seconds + GRACE_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if pending:
        tally.errors["no_answer_in_grace"] += len(pending)
        for p in pipelines:
            await p.conn.close()  # a cancelled request leaves its answer unread on the socket
    for task in done:
        task.result()  # a bug in the generator must not pass as a quiet phase
    return tally, began, time.monotonic() - began


def phase_figures(tally: Tally, began: float, duration: float, cpu: CpuSample) -> dict[str, Any]:
    """What both phases report: rate, latencies, errors, CPU per decision."""
    decided = max(1, tally.decisions)
    return {
        "seconds": round(duration, 1),
        "decisions": tally.decisions,
        "decisions_per_s": round(tally.decisions / duration, 1),
        "auto_approved": tally.states.get("scheduled", 0),
        "states": dict(tally.states),
        "latency_ms": latency_summary(tally.latencies_ms),
        "errors": dict(tally.errors),
        "decisions_per_s_by_10s": windows(tally.finished_at, began, duration),
        "cpu_ms_per_decision": {
            "server": round(1000 * cpu.server / decided, 1),
            "machine": round(1000 * cpu.machine / decided, 1),
        },
        "client_cpu_ms_per_request": round(1000 * cpu.client / max(1, tally.requests), 3),
        "server_cpu_share": round(cpu.server / duration, 2),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


@dataclass
class Bench:
    """One backend's running server, its pipelines and the options."""

    backend: str
    server: Server
    pipelines: list[Pipeline]
    args: argparse.Namespace


async def timed_phase(
    bench: Bench, name: str, seconds: float, rate: float | None
) -> dict[str, Any]:
    """One measured phase with its CPU accounting (and a py-spy profile if asked)."""
    at = f" at {rate:g}/s" if rate else ""
    progress(f"{bench.backend} {name}: {len(bench.pipelines)} pipelines for {seconds:g}s{at}")
    pid = bench.server.process.pid
    out = f"{bench.args.profile}-{bench.backend}-{name}.txt" if bench.args.profile else ""
    spy = profile(pid, seconds, out)
    before = CpuSample.now(pid)
    tally, began, duration = await drive(bench.pipelines, seconds, rate)
    figures = phase_figures(tally, began, duration, CpuSample.now(pid).since(before))
    if spy is not None:
        spy.wait(timeout=60)
    if rate is None:
        return figures
    return {
        "offered_per_s": rate,
        **figures,
        "service_latency_ms": latency_summary(tally.service_ms),
        "sent_late": tally.late,
        "unsent": tally.unsent,
    }


async def measure(bench: Bench) -> dict[str, Any]:
    """Warm up, then the paced and the capacity phase on the same connections."""
    args = bench.args
    progress(f"{bench.backend}: server up at {bench.server.url}; warming up {args.warmup:g}s")
    for p in bench.pipelines:
        # One at a time: with --workers N, uvicorn's processes share one listening socket
        # and a process woken by a burst of connections accepts them all.
        await p.conn.connect()
        await asyncio.sleep(CONNECT_GAP_S)
    warm, _, _ = await drive(bench.pipelines, args.warmup, None)
    paced = await timed_phase(bench, "paced", args.seconds, args.rate)
    capacity = await timed_phase(bench, "capacity", args.capacity_seconds, None)
    for p in bench.pipelines:
        await p.conn.close()
    return {"warmup_errors": dict(warm.errors), "paced": paced, "capacity": capacity}


CONNECT_GAP_S = 0.02


def verdict(result: dict[str, Any]) -> bool:
    """Whether one backend's phases meet the issue's targets."""
    paced, capacity = result["paced"], result["capacity"]
    errors = sum(paced["errors"].values()) + sum(capacity["errors"].values())
    return targets_met(
        capacity["decisions_per_s"],
        paced["latency_ms"]["p99"],
        paced["decisions_per_s"],
        paced["offered_per_s"],
        errors,
        TARGETS,
    )


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start a server on a scratch database of the backend, warm it up, measure both phases."""
    with (
        scratch_database(backend, args.postgres_url) as url,
        tempfile.TemporaryDirectory(prefix="flywheel-bench-home-") as home,
        running_server(url, Path(home), args.workers) as server,
    ):
        services, token = seed(server, args.services)
        auth = {"Authorization": f"Bearer {token}"}
        pipelines = [
            Pipeline(Connection(f"{server.url}/api/v1", auth), n, services[n % len(services)], args)
            for n in range(args.pipelines)
        ]
        measured, loop = run_loop(lambda: measure(Bench(backend, server, pipelines, args)))
        logged = server_log_counts(server.log)
    result = {"status": "ok", "client_loop": loop, **measured, "server_log": logged}
    result["targets_met"] = verdict(result)
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
    add = parser.add_argument
    add("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    add("--seconds", type=float, default=60.0, help="seconds of the paced phase per backend")
    add("--capacity-seconds", type=float, default=0.0, help="closed-loop seconds (--seconds)")
    add("--rate", type=float, default=TARGETS.min_rate, help="decisions/s the paced phase offers")
    add("--warmup", type=float, default=3.0, help="warm-up seconds per backend")
    add("--pipelines", type=int, default=50, help="concurrent pipelines")
    add("--services", type=int, default=5, help="services the pipelines deploy")
    add("--workers", type=int, default=1, help="uvicorn worker processes")
    add(
        "--no-idempotency-key",
        dest="idempotency_key",
        action="store_false",
        help="send no Idempotency-Key (the CLI sends one with --external-id)",
    )
    add(
        "--deploy",
        action="store_true",
        help="after an approval, start and complete the change (keeps the active set small)",
    )
    add(
        "--postgres-url",
        default=os.environ.get("FLYWHEEL_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="PostgreSQL server on which to create (and drop) a scratch database",
    )
    add("--profile", default="", help="py-spy raw stacks to PREFIX-<backend>-<phase>.txt")
    args = parser.parse_args()
    args.capacity_seconds = args.capacity_seconds or args.seconds
    return args


def main() -> None:
    """Run the benchmark and print one JSON line."""
    args = parse_args()
    chosen = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    backends: dict[str, Any] = {}
    calibration = [calibration_ms()]  # before and after: the machine's speed drifts
    for backend in chosen:
        try:
            backends[backend] = run_backend(backend, args)
        except (SQLAlchemyError, OSError) as exc:
            progress(f"{backend} skipped: {exc}")
            backends[backend] = {"status": "skipped", "reason": str(exc).splitlines()[0]}
    measured = [b for b in backends.values() if b["status"] == "ok"]
    calibration.append(calibration_ms())
    config = {k: getattr(args, k) for k in CONFIG.split()}
    summary = {
        "benchmark": "change_decisions",
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "calibration_ms": calibration,
        },
        "source": source_revision(),
        "config": config,
        "targets": {
            "min_decisions_per_s": TARGETS.min_rate,
            "p99_ms_below_at_rate": TARGETS.p99_ms_below,
            "min_achieved_share_of_offered": TARGETS.min_achieved_share,
        },
        "backends": backends,
        "targets_met": bool(measured) and all(b["targets_met"] for b in measured),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
