"""Audited vs un-audited writes per second on SQLite and PostgreSQL (issue 2).

One state change per committed transaction by default (`--batch N` groups N, each still
its own audited service call, as bulk paths do): audited through the service layer
(`auth.service.update_team`, which appends a hash-chained audit event), un-audited as
the same ORM change on the model. Both run on the same database in interleaved timed
phases (A, U, U, A) after a warm-up; progress goes to stderr, one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import select

from flywheel import migrate
from flywheel.audit import service as audit
from flywheel.auth import service as auth
from flywheel.auth.actor import system_actor
from flywheel.auth.models import Team
from flywheel.auth.schemas import TeamCreate, TeamUpdate
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from scratch import ServerUnavailable, postgres_database

ACTOR = system_actor("bench")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
MAX_AUDIT_COST = 1 / 3
MIN_SQLITE_AUDITED_PER_S = 2000.0
SQLITE_SYNC = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


@dataclass
class Writer:
    """One writer thread's own teams (one per state change in a transaction) and counts."""

    keys: list[str]
    versions: list[int]
    writes: int = 0
    audited: int = 0


Write = Callable[[Database, Writer], None]


def audited_write(db: Database, writer: Writer) -> None:
    """Audited state changes (update_team through the service layer), one commit for the batch."""
    writer.writes += 1
    with db.session(write=True) as session:
        teams = [
            auth.update_team(
                session,
                actor=ACTOR,
                key=key,
                data=TeamUpdate(version=version, description=f"revision {writer.writes}"),
            )
            for key, version in zip(writer.keys, writer.versions, strict=True)
        ]
        session.commit()
    writer.versions = [t.version for t in teams]
    writer.audited += len(teams)


def unaudited_write(db: Database, writer: Writer) -> None:
    """The same ORM changes made directly on the models, with no audit event."""
    writer.writes += 1
    with db.session(write=True) as session:
        teams = [session.scalars(select(Team).where(Team.key == k)).one() for k in writer.keys]
        for team in teams:
            team.description = f"revision {writer.writes}"
            team.updated_at = utcnow()
        session.commit()
    writer.versions = [t.version for t in teams]


def make_writers(db: Database, count: int, batch: int) -> list[Writer]:
    """Create `batch` teams per writer thread (audited, like any other state change)."""
    writers = []
    for _ in range(count):
        keys = [f"bench-{uuid.uuid4().hex[:12]}" for _ in range(batch)]
        with db.session(write=True) as session:
            teams = [
                auth.create_team(session, actor=ACTOR, data=TeamCreate(key=key, name=key))
                for key in keys
            ]
            session.commit()
        writers.append(Writer(keys, [t.version for t in teams], audited=batch))
    return writers


def run_phase(
    db: Database, writers: list[Writer], write: Write, seconds: float
) -> tuple[int, float]:
    """Run `write` in a loop on one thread per writer; return commits and wall seconds."""
    barrier = threading.Barrier(len(writers))

    def loop(writer: Writer) -> tuple[int, float, float]:
        barrier.wait()
        start = time.perf_counter()
        deadline, commits = start + seconds, 0
        while time.perf_counter() < deadline:
            write(db, writer)
            commits += 1
        return commits, start, time.perf_counter()

    with ThreadPoolExecutor(max_workers=len(writers)) as pool:
        outcomes = [f.result() for f in [pool.submit(loop, w) for w in writers]]
    wall = max(o[2] for o in outcomes) - min(o[1] for o in outcomes)
    return sum(o[0] for o in outcomes), wall


def measure(db: Database, backend: str, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    """Audited and un-audited commits per second for one thread count."""
    writers = make_writers(db, threads, args.batch)
    run_phase(db, writers, audited_write, args.warmup)
    run_phase(db, writers, unaudited_write, args.warmup)
    phases = [audited_write, unaudited_write, unaudited_write, audited_write]
    runs = [run_phase(db, writers, write, args.seconds / 2) for write in phases]
    per_commit = args.batch
    audited = per_commit * (runs[0][0] + runs[3][0]) / (runs[0][1] + runs[3][1])
    unaudited = per_commit * (runs[1][0] + runs[2][0]) / (runs[1][1] + runs[2][1])
    row = result_row(backend, threads, audited, unaudited, sum(w.audited for w in writers))
    return {**row, "state_changes_per_commit": per_commit}


def result_row(
    backend: str, threads: int, audited: float, unaudited: float, events: int
) -> dict[str, Any]:
    """One result line with the audit cost and whether it meets the targets."""
    cost = 1 - audited / unaudited
    row = {"backend": backend, "threads": threads, "audited_per_s": round(audited, 1)}
    row |= {"unaudited_per_s": round(unaudited, 1), "audit_cost_fraction": round(cost, 3)}
    row |= {"audit_events_written": events, "cost_target_met": cost <= MAX_AUDIT_COST}
    if backend == "sqlite":
        row["throughput_target_met"] = audited >= MIN_SQLITE_AUDITED_PER_S
    row["meets_target"] = row["cost_target_met"] and row.get("throughput_target_met", True)
    progress(
        f"{backend} x{threads}: {audited:.0f} audited/s, {unaudited:.0f} plain/s, cost {cost:.0%}"
    )
    return row


def run_backend(
    backend: str, url: str, home: Path, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Migrate a fresh database, measure every thread count, verify the chain."""
    migrate.upgrade(url)
    db = Database(url, Settings(home=home, database_url=url))
    try:
        rows = [measure(db, backend, n, args) for n in args.threads]
        with db.session() as session:
            report = audit.verify_chain(session)
        info = {"status": "ok", **server_info(db)}
    finally:
        db.dispose()
    expected = sum(r["audit_events_written"] for r in rows)
    info |= {"chain_intact": report.intact, "audit_events": report.events_checked}
    info |= {
        "expected_events": expected,
        "chain_ok": report.intact and report.events_checked == expected,
    }
    return rows, info


def server_info(db: Database) -> dict[str, Any]:
    """The backend's version and durability setting."""
    with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            return {"version": sqlite3.sqlite_version, "synchronous": SQLITE_SYNC.get(sync, sync)}
        version = conn.exec_driver_sql("SHOW server_version").scalar()
        sync = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        return {"version": version, "synchronous_commit": sync}


def bench_sqlite(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Benchmark on a fresh SQLite file in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="flywheel-bench-") as tmp:
        return run_backend("sqlite", f"sqlite:///{tmp}/bench.db", Path(tmp), args)


def bench_postgres(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Benchmark on a fresh database `flywheel_bench_<random>`, dropped afterwards."""
    try:
        with (
            postgres_database(args.postgres_url) as url,
            tempfile.TemporaryDirectory(prefix="flywheel-bench-") as tmp,
        ):
            return run_backend("postgresql", url, Path(tmp), args)
    except ServerUnavailable as exc:
        progress(f"postgresql skipped: {exc}")
        return [], {"status": "skipped", "reason": str(exc)}


def progress(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per kind")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per kind")
    parser.add_argument("--threads", default="1,4,16", help="writer thread counts, e.g. 1,4,16")
    parser.add_argument(
        "--batch", type=int, default=1, help="state changes per transaction (1 = one each)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FLYWHEEL_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="server to create the scratch database on",
    )
    args = parser.parse_args()
    args.threads = [int(n) for n in args.threads.split(",")]
    return args


def main() -> None:
    """Run the chosen backends and print one JSON line."""
    args = parse_args()
    results: list[dict[str, Any]] = []
    backends: dict[str, dict[str, Any]] = {}
    runners = {"sqlite": bench_sqlite, "postgresql": bench_postgres}
    for name, runner in runners.items():
        if args.backend in (name, "both"):
            rows, backends[name] = runner(args)
            results += rows
    machine = {"cores": os.cpu_count(), "platform": platform.platform()}
    machine |= {"python": platform.python_version(), "sqlalchemy": sqlalchemy.__version__}
    chains_ok = all(b["status"] == "skipped" or b["chain_ok"] for b in backends.values())
    summary = {
        "benchmark": "audit_append",
        "machine": machine,
        "config": {
            "seconds": args.seconds,
            "warmup": args.warmup,
            "threads": args.threads,
            "batch": args.batch,
        },
        "targets": {"max_audit_cost_fraction": round(MAX_AUDIT_COST, 3)}
        | {"min_sqlite_audited_per_s": MIN_SQLITE_AUDITED_PER_S},
        "backends": backends,
        "results": results,
        "targets_met": chains_ok and all(r["meets_target"] for r in results),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
