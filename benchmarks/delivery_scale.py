"""Delivery metrics at scale (issue 9): DORA keys and time-to-delivery over two years of history.

Generates (benchmarks/delivery_history.py) 1,000,000 deployments, ~5,000,000 commits and
50,000 incidents across 200 services over two years at --scale 1.0, bulk-inserted, then
ANALYZEs and times, each --repeat times on a warm database:

- four_keys_all: the four DORA keys of every service for the last 90 days;
- time_to_delivery_all: the time-to-delivery breakdown (per service, per week, flow);
- dashboard_*: one service's figures (four keys, time-to-delivery, SLO status) for a
  service of median deployment volume;
- metrics_export: the /metrics text (30-day keys of all services, 200 SLO states);
- budget_gate: the error-budget deployment gate for one service.

Incidents live in a stand-in table registered through the provider registries as the
incident domain would (failures linked to deployments, P1 downtime, open incidents).
Each backend runs in its own process; peak memory per report comes from tracemalloc on
one extra run, and the process's peak RSS is reported too. One JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from delivery_history import SERVICES, generate, incidents_table, service_key
from flywheel import migrate
from flywheel.auth.actor import system_actor
from flywheel.cmdb import service as cmdb_service
from flywheel.cmdb.schemas import CICreate
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.delivery import exporter, sources, timing
from flywheel.delivery import service as delivery
from flywheel.deploy.models import Deployment
from flywheel.slo import gate, schemas
from flywheel.slo import service as slo_service
from flywheel.slo import sources as slo_sources
from flywheel.slo.slices import Interval
from scratch import ServerUnavailable, postgres_database

ACTOR = system_actor("bench")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
TARGETS_S = {"sqlite": 5.0, "postgresql": 2.0, "dashboard": 0.2}


def progress(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def register_incident_providers(db: Database) -> None:
    """What the incident domain would register, reading the stand-in incidents table."""
    t = incidents_table

    def failures(
        session: Session, *, start: datetime, end: datetime, services: Any = None
    ) -> list[Any]:
        query = select(t.c.deployment_id, t.c.detected_at, t.c.mitigated_at).where(
            t.c.deployment_id.is_not(None),
            t.c.detected_at >= start,
            t.c.detected_at < end + timedelta(days=7),
        )
        if services is not None:
            query = query.where(t.c.service.in_(services))
        return [sources.LinkedFailure(d, det, mit) for d, det, mit in session.execute(query)]

    def downtime(
        session: Session, *, service: str, start: datetime, end: datetime
    ) -> slo_sources.Downtime:
        query = select(t.c.detected_at, t.c.mitigated_at).where(
            t.c.service == service,
            t.c.priority == "P1",
            t.c.detected_at < end,
            (t.c.mitigated_at.is_(None)) | (t.c.mitigated_at > start),
        )
        bad = [Interval(a, b or end) for a, b in session.execute(query)]
        return slo_sources.Downtime(bad=bad, covered=[Interval(start, end)])

    def open_incidents(session: Session) -> dict[str, int]:
        query = (
            select(t.c.priority, func.count())
            .where(t.c.mitigated_at.is_(None))
            .group_by(t.c.priority)
        )
        return {p: int(n) for p, n in session.execute(query)}

    sources.register_failures("bench", failures)
    slo_sources.register_downtime("bench", downtime)
    slo_sources.register_open_incidents("bench", open_incidents)


def seed_services(db: Database) -> None:
    """The 200 services in the CMDB, each with an availability SLO on deployment traffic."""
    with db.session(write=True) as session:
        for n in range(SERVICES):
            key = service_key(n)
            data = CICreate.model_validate({"key": key, "name": key, "type": "business_service"})
            cmdb_service.create_ci(session, actor=ACTOR, data=data)
            slo = schemas.SloCreate.model_validate(
                {"service": key, "name": "availability", "objective": 99.9, "source": "deployments"}
            )
            slo_service.create_slo(session, actor=ACTOR, data=slo)
        p1 = schemas.SloCreate.model_validate(
            {
                "service": service_key(0),
                "name": "p1-downtime",
                "objective": 99.95,
                "source": "incidents",
            }
        )
        slo_service.create_slo(session, actor=ACTOR, data=p1)
        session.commit()


def median_service(db: Database, since: datetime) -> str:
    """The service with the median number of deployments in the period."""
    with db.session() as session:
        query = (
            select(Deployment.service, func.count())
            .where(Deployment.finished_at >= since)
            .group_by(Deployment.service)
            .order_by(func.count())
        )
        ranked = [s for s, _ in session.execute(query)]
    return ranked[len(ranked) // 2]


def timed(db: Database, work: Callable[[Session], Any], repeat: int) -> dict[str, Any]:
    """Seconds per run (each on a fresh read session) and tracemalloc peak of one more run."""
    seconds, cpu = [], []
    for _ in range(repeat):
        with db.session() as session:
            started, cpu_started = time.perf_counter(), time.process_time()
            work(session)
            seconds.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
    with db.session() as session:
        tracemalloc.start()
        work(session)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "first_s": round(seconds[0], 3),
        "median_s": round(statistics.median(seconds), 3),
        "best_s": round(min(seconds), 3),
        # This process's CPU (SQLite's work included, a PostgreSQL server's not): on a
        # machine shared with other work, wall time is this divided by the share it got.
        "cpu_median_s": round(statistics.median(cpu), 3),
        "peak_mb": round(peak / 2**20, 1),
    }


def reports(db: Database, settings: Settings, repeat: int) -> dict[str, Any]:
    """Time every report."""
    until = datetime.now(UTC)
    period = delivery.Period(until - timedelta(days=90), until)
    one = median_service(db, period.since)
    gate.install(settings)
    with db.session() as session:
        slo = slo_service.list_slos(session, service=one)[0]
        session.expunge(slo)

    def four_keys_all(s: Session) -> Any:
        return delivery.metrics(s, period=period, services=None)

    def ttd_all(s: Session) -> Any:
        return timing.time_to_delivery(s, period=period, services=None)

    def dash_keys(s: Session) -> Any:
        return delivery.metrics(s, period=period, services=[one])

    def dash_ttd(s: Session) -> Any:
        return timing.time_to_delivery(s, period=period, services=[one])

    def dash_slo(s: Session) -> Any:
        return slo_service.service_states(s, service=one, settings=settings)

    found = {
        "four_keys_all": timed(db, four_keys_all, repeat),
        "time_to_delivery_all": timed(db, ttd_all, repeat),
        "dashboard_four_keys": timed(db, dash_keys, repeat),
        "dashboard_time_to_delivery": timed(db, dash_ttd, repeat),
        "dashboard_slo_status": timed(db, dash_slo, repeat),
        "metrics_export": timed(db, lambda s: exporter.render(s, settings), repeat),
        "budget_gate": timed(db, lambda s: gate.check(s, one, None), repeat),
    }
    dashboard = sum(found[k]["median_s"] for k in found if k.startswith("dashboard_"))
    with db.session() as session:
        keys = delivery.metrics(session, period=period, services=None).total
        journeys = timing.time_to_delivery(session, period=period, services=None).total
    found["dashboard_total_median_s"] = round(dashboard, 3)
    found["dashboard_service"] = one
    found["sanity"] = {
        "deployments_90d": keys.deployments,
        "finished_90d": keys.finished,
        "failed_90d": keys.failed,
        "lead_time_commits_90d": keys.lead_time.count,
        "lead_time_median_h": round((keys.lead_time.median or 0) / 3600, 2),
        "change_failure_rate": round(keys.failure_rate or 0, 4),
        "recovery_median_min": round((keys.recovery.median or 0) / 60, 1),
        "delivered_changes_90d": journeys.changes,
    }
    return found


def analyze(db: Database) -> None:
    """Planner statistics, as autovacuum (PostgreSQL) or PRAGMA optimize (SQLite) keep them."""
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def run_backend(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Migrate, generate, analyze, measure: the child process's whole job."""
    migrate.upgrade(url)
    with tempfile.TemporaryDirectory(prefix="flywheel-delivery-bench-") as home:
        settings = Settings(home=Path(home), database_url=url, secret_key="bench")
        db = Database(url, settings)
        try:
            started = time.perf_counter()
            rows = generate(db.engine, scale=args.scale, now=time.time(), seed=args.seed)
            seed_services(db)
            generate_s = time.perf_counter() - started
            progress(f"{db.dialect}: generated in {generate_s:.0f} s: {rows}")
            started = time.perf_counter()
            analyze(db)
            analyze_s = time.perf_counter() - started
            register_incident_providers(db)
            result: dict[str, Any] = {
                "rows": rows,
                "generate_s": round(generate_s, 1),
                "analyze_s": round(analyze_s, 1),
                **reports(db, settings, args.repeat),
            }
        finally:
            db.dispose()
    result["load_average"] = Path("/proc/loadavg").read_text().split()[:3]
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    backend = "sqlite" if url.startswith("sqlite") else "postgresql"
    limit = TARGETS_S[backend]
    result["targets_met"] = {
        "four_keys_all": result["four_keys_all"]["median_s"] < limit,
        "time_to_delivery_all": result["time_to_delivery_all"]["median_s"] < limit,
        "dashboard": result["dashboard_total_median_s"] < TARGETS_S["dashboard"],
    }
    return result


def in_child(backend: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one backend in a fresh Python process; its JSON result."""
    command = [sys.executable, __file__, "--child-url", url, "--backend", backend]
    command += ["--scale", str(args.scale), "--seed", str(args.seed), "--repeat", str(args.repeat)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        return {"status": "failed", "exit_code": done.returncode}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def bench_sqlite(args: argparse.Namespace) -> dict[str, Any]:
    """A fresh SQLite file in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="flywheel-delivery-bench-") as tmp:
        return in_child("sqlite", f"sqlite:///{tmp}/bench.db", args)


def bench_postgres(args: argparse.Namespace) -> dict[str, Any]:
    """A fresh database `flywheel_bench_<random>` on the server, dropped afterwards."""
    try:
        with postgres_database(args.postgres_url) as url:
            return in_child("postgresql", url, args)
    except ServerUnavailable as exc:
        progress(f"postgresql skipped: {exc}")
        return {"status": "skipped", "reason": str(exc)}


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M deployments")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per report")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("FLYWHEEL_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    """Benchmark each backend in its own process; print one JSON line."""
    args = parse_args()
    if args.child_url:
        print(json.dumps(run_backend(args.child_url, args)))
        return
    result: dict[str, Any] = {
        "benchmark": "delivery_scale",
        "scale": args.scale,
        "repeat": args.repeat,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "targets_s": TARGETS_S,
    }
    if args.backend in ("sqlite", "both"):
        result["sqlite"] = bench_sqlite(args)
    if args.backend in ("postgresql", "both"):
        result["postgresql"] = bench_postgres(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
