"""CMDB at scale (issue 3): import ~1M CIs and ~3M relationships, then time impact queries.

Generates a synthetic estate (business services, applications, pools with min_up,
instances on hosts, shared databases and load balancers, networks, partners and
tenants using 1-5 services), writes it to CSV or JSON Lines files, imports them the
way `flywheel cmdb import` does (importer + bulk.import_batch, one transaction per
batch), then runs impact queries through `flywheel.cmdb.service.impact`, weighted
towards shared infrastructure. Each backend runs in its own process so peak RSS is
its own. Progress goes to stderr, one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from flywheel import migrate
from flywheel.auth.actor import system_actor
from flywheel.cmdb import importer, service
from flywheel.cmdb.loader import ImportTotals, import_source
from flywheel.cmdb.models import ConfigurationItem, Relationship
from flywheel.config import Settings
from flywheel.db import Database
from scratch import ServerUnavailable, postgres_database

ACTOR = system_actor("bench")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
TARGETS = {"import_s": 120.0, "impact_p95_ms": 50.0, "peak_rss_mb": 2048.0}
ATTRS = ("rack", "cores", "port", "version", "plan")
CI_HEADER = ["key", "name", "type", "criticality", "min_up", *(f"attr.{a}" for a in ATTRS)]
QUERY_MIX = {  # what an impact query asks about: shared infrastructure first
    "database": 0.25,
    "load_balancer": 0.20,
    "host": 0.25,
    "network": 0.08,
    "service_pool": 0.08,
    "instance": 0.06,
    "application": 0.04,
    "external_service": 0.02,
    "tenant": 0.02,
}
TENANT_CRITICALITY = ([1, 2, 3, 4], [5, 15, 50, 30])

Row = dict[str, Any]
Link = tuple[str, str, str, bool]


@dataclass(frozen=True)
class Plan:
    """How many CIs of each kind; tenants fill up to the total."""

    services: int
    apps: int
    pools: int
    instances: int
    hosts: int
    databases: int
    balancers: int
    switches: int
    segments: int
    partners: int
    tenants: int

    @classmethod
    def at(cls, scale: float) -> Plan:
        """The estate at a fraction of full size (1.0 = 1,000,000 CIs)."""

        def n(full: int, least: int) -> int:
            return max(least, round(full * scale))

        sizes = {
            "services": n(50, 3),
            "apps": n(200, 6),
            "pools": n(1000, 12),
            "instances": n(100_000, 60),
            "hosts": n(20_000, 20),
            "databases": n(50, 3),
            "balancers": n(20, 2),
            "switches": n(1000, 2),
            "segments": n(20, 2),
            "partners": 10,
        }
        others = sum(sizes.values()) + 1  # + the core network
        return cls(**sizes, tenants=max(10, round(1_000_000 * scale) - others))

    @property
    def db_hosts(self) -> int:
        """Hosts 0..db_hosts-1 run databases, the rest run instances."""
        return max(1, self.hosts // 200)

    def pool_size(self, pool: int) -> int:
        """Instances in a pool (instance k is in pool k % pools)."""
        return self.instances // self.pools + (pool < self.instances % self.pools)


def key(kind: str, n: int) -> str:
    """A CI key such as host-000042."""
    return f"{kind}-{n:06d}"


def ci(kind: str, n: int, ci_type: str, crit: int = 3, min_up: str = "", **attrs: Any) -> Row:
    """One CI row."""
    row = {"key": key(kind, n), "name": f"{kind.title()} {n}", "type": ci_type}
    return {**row, "criticality": crit, "min_up": min_up, **attrs}


def cis(plan: Plan, rng: random.Random) -> Iterator[Row]:
    """Every CI of the estate, infrastructure first, tenants last."""
    yield {"key": "net-core", "name": "Core network", "type": "network", "criticality": 1}
    yield from (ci("seg", n, "network", 1) for n in range(plan.segments))
    yield from (ci("sw", n, "network", 2) for n in range(plan.switches))
    for n in range(plan.hosts):
        yield ci("host", n, "host", 2, rack=n // 40, cores=rng.choice([8, 16, 32, 64]))
    yield from (ci("db", n, "database", 1) for n in range(plan.databases))
    yield from (ci("lb", n, "load_balancer", 1) for n in range(plan.balancers))
    yield from (ci("ext", n, "external_service", 2) for n in range(plan.partners))
    yield from (ci("svc", n, "business_service", 1 + n % 3) for n in range(plan.services))
    yield from (ci("app", n, "application", 2) for n in range(plan.apps))
    for n in range(plan.pools):
        size = plan.pool_size(n)
        min_up = f"{rng.choice([50, 60, 75])}%" if n % 2 else str(max(1, size * 2 // 3))
        yield ci("pool", n, "service_pool", 2, min_up)
    for n in range(plan.instances):
        yield ci("inst", n, "instance", 3, port=8000 + n % 100, version=f"1.{n % 7}")
    plans = ["basic", "pro", "enterprise"]
    for n in range(plan.tenants):
        crit = rng.choices(*TENANT_CRITICALITY)[0]
        yield ci("tenant", n, "tenant", crit, plan=plans[min(2, 4 - crit)])


def links(plan: Plan, rng: random.Random) -> Iterator[Link]:
    """Every relationship: (source, type, target, optional); the source needs the target."""
    yield from ((key("seg", n), "connects_to", "net-core", False) for n in range(plan.segments))
    for n in range(plan.switches):
        yield key("sw", n), "connects_to", key("seg", n % plan.segments), False
    for n in range(plan.hosts):
        yield key("host", n), "connects_to", key("sw", n % plan.switches), False
    for n in range(plan.databases):
        yield key("db", n), "runs_on", key("host", n % plan.db_hosts), False
    for n in range(plan.balancers):
        yield key("lb", n), "connects_to", key("seg", n % plan.segments), False
    yield from _service_links(plan)
    for n in range(plan.pools):
        yield key("app", n % plan.apps), "depends_on", key("pool", n), False
        yield key("pool", n), "balanced_by", key("lb", n % plan.balancers), False
    app_hosts = plan.hosts - plan.db_hosts
    for n in range(plan.instances):
        yield key("inst", n), "member_of", key("pool", n % plan.pools), False
        yield key("inst", n), "runs_on", key("host", plan.db_hosts + n * 7919 % app_hosts), False
    weights = [1.0 / (1 + s) for s in range(plan.services)]  # a few services are popular
    for n in range(plan.tenants):
        used: set[int] = set()
        wanted = min(plan.services, rng.randint(1, 5))
        while len(used) < wanted:
            used.add(rng.choices(range(plan.services), weights)[0])
        yield from ((key("tenant", n), "uses", key("svc", s), False) for s in sorted(used))


def _service_links(plan: Plan) -> Iterator[Link]:
    for n in range(plan.services):
        yield key("svc", n), "depends_on", key("app", 0), False  # identity: everyone needs it
        yield key("svc", n), "depends_on", key("app", 1), True  # search: nice to have
    for n in range(2, plan.apps):
        yield key("svc", n % plan.services), "depends_on", key("app", n), False
    for n in range(plan.apps):
        yield key("app", n), "depends_on", key("db", n % plan.databases), False
        if n % 3 == 0:
            yield key("app", n), "depends_on", key("db", n * 7 % plan.databases), False
        if n % 10 == 0:
            partner = n // 10 % plan.partners
            yield key("app", n), "depends_on", key("ext", partner), partner >= 3


def write_estate(plan: Plan, directory: Path, fmt: str, seed: int) -> list[Path]:
    """Write the estate as CSV (CIs, relationships) or one JSON Lines file; the paths."""
    rng = random.Random(seed)
    if fmt == "jsonl":
        path = directory / "estate.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for row in cis(plan, rng):
                attrs = {a: row.pop(a) for a in ATTRS if a in row}
                row = {k: v for k, v in row.items() if v != ""}
                out.write(json.dumps({"kind": "ci", **row, "attributes": attrs}) + "\n")
            for s, t, d, o in links(plan, rng):
                rel = {"kind": "relationship", "source": s, "type": t, "target": d, "optional": o}
                out.write(json.dumps(rel) + "\n")
        return [path]
    ci_path, rel_path = directory / "cis.csv", directory / "relationships.csv"
    with ci_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, CI_HEADER)
        writer.writeheader()
        writer.writerows(
            {f"attr.{k}" if k in ATTRS else k: v for k, v in r.items()} for r in cis(plan, rng)
        )
    with rel_path.open("w", newline="", encoding="utf-8") as out:
        writer_ = csv.writer(out)
        writer_.writerow(["source", "type", "target", "optional"])
        writer_.writerows((s, t, d, "true" if o else "") for s, t, d, o in links(plan, rng))
    return [ci_path, rel_path]


def report_progress(totals: ImportTotals) -> None:
    """Every 100 batches, how far the import is."""
    if totals.batches % 100 == 0:
        progress(f"  {totals.rows:,} rows")


def import_files(db: Database, paths: list[Path], batch_size: int) -> dict[str, Any]:
    """Import each file as `flywheel cmdb import` does; seconds and what was created."""
    timings: dict[str, float] = {}
    totals: list[ImportTotals] = []
    for path in paths:
        started = time.perf_counter()
        totals.append(
            import_source(
                db,
                importer.read_file(path),
                actor=ACTOR,
                batch_size=batch_size,
                on_batch=report_progress,
            )
        )
        timings[path.name] = round(time.perf_counter() - started, 2)
        progress(f"  {path.name}: {timings[path.name]} s")
    created = {
        "cis_created": sum(t.cis_created for t in totals),
        "relationships_created": sum(t.relationships_created for t in totals),
    }
    return {"import_s": round(sum(timings.values()), 2), "import_s_by_file": timings, **created}


def pick_queries(plan: Plan, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(type, key) of CIs to ask about, drawn per QUERY_MIX (keys follow from the plan)."""
    kinds = {
        "database": [("db", plan.databases)],
        "load_balancer": [("lb", plan.balancers)],
        "host": [("host", plan.hosts)],
        "network": [("seg", plan.segments), ("sw", plan.switches)],
        "service_pool": [("pool", plan.pools)],
        "instance": [("inst", plan.instances)],
        "application": [("app", plan.apps)],
        "external_service": [("ext", plan.partners)],
        "tenant": [("tenant", plan.tenants)],
    }
    chosen = []
    for ci_type in rng.choices(list(QUERY_MIX), list(QUERY_MIX.values()), k=count):
        prefix, size = rng.choice(kinds[ci_type])
        chosen.append((ci_type, key(prefix, rng.randrange(size))))
    return chosen


def run_queries(db: Database, plan: Plan, count: int, seed: int) -> dict[str, Any]:
    """Time the first impact query (it loads the index), then `count` more."""
    queries = pick_queries(plan, count + 1, random.Random(seed))
    timings: dict[str, list[float]] = {}
    with db.session() as session:
        started = time.perf_counter()
        service.impact(session, keys=[queries[0][1]])
        load_s = time.perf_counter() - started
        progress(f"  index loaded in {load_s:.1f} s")
        for ci_type, ci_key in queries[1:]:
            started = time.perf_counter()
            service.impact(session, keys=[ci_key])
            timings.setdefault(ci_type, []).append((time.perf_counter() - started) * 1000)
            session.rollback()  # a fresh read transaction per query, as the API has
    every = sorted(t for ts in timings.values() for t in ts)
    by_type = {t: round(percentile(sorted(ts), 95), 2) for t, ts in sorted(timings.items())}
    return {
        "index_load_s": round(load_s, 2),
        "impact_ms": {
            q: round(percentile(every, p), 2) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))
        }
        | {"max": round(every[-1], 2), "mean": round(statistics.fmean(every), 2)},
        "impact_p95_ms_by_type": by_type,
        "queries": len(every),
    }


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def counts(db: Database) -> dict[str, int]:
    """CIs and relationships stored."""
    with db.session() as session:
        found_cis = session.scalar(select(func.count(ConfigurationItem.id))) or 0
        found_rels = session.scalar(select(func.count(Relationship.id))) or 0
    return {"cis": int(found_cis), "relationships": int(found_rels)}


def server_cpu_s(db: Database) -> float | None:
    """CPU seconds the PostgreSQL backends of this benchmark's database have used so far.

    Read from /proc, so only when the server runs on this machine (None otherwise).
    """
    if db.dialect != "postgresql":
        return None
    query = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    with db.engine.connect() as conn:
        pids = conn.execute(query).scalars().all()
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return round(total, 1)


def run_backend(url: str, paths: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    """Migrate, import, query, measure: the child process's whole job."""
    migrate.upgrade(url)
    with tempfile.TemporaryDirectory(prefix="flywheel-bench-home-") as home:
        db = Database(url, Settings(home=Path(home), database_url=url, secret_key="bench"))
        try:
            load_before, cpu_before = round(os.getloadavg()[0], 2), time.process_time()
            server_before = server_cpu_s(db)
            result = import_files(db, paths, args.batch_size)
            server_after = server_cpu_s(db)
            # CPU the import needed, whatever else the machine was doing meanwhile
            result["import_cpu_s"] = {
                "client": round(time.process_time() - cpu_before, 1),
                "server": None
                if server_before is None or server_after is None
                else round(server_after - server_before, 1),
            }
            result["load_avg_1m"] = {"start": load_before, "end": round(os.getloadavg()[0], 2)}
            result |= run_queries(db, Plan.at(args.scale), args.queries, args.seed)
            result["stored"] = counts(db)
        finally:
            db.dispose()
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["targets_met"] = {
        "import": result["import_s"] < TARGETS["import_s"],
        "impact_p95": result["impact_ms"]["p95"] < TARGETS["impact_p95_ms"],
        "peak_rss": result["peak_rss_mb"] < TARGETS["peak_rss_mb"],
    }
    return result


def in_child(backend: str, url: str, paths: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    """Run one backend in a fresh Python process; its JSON result."""
    command = [sys.executable, __file__, "--child-url", url, "--backend", backend]
    command += [
        "--queries",
        str(args.queries),
        "--seed",
        str(args.seed),
        "--scale",
        str(args.scale),
    ]
    command += ["--batch-size", str(args.batch_size), *map(str, paths)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        return {"status": "failed", "exit_code": done.returncode}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def bench_sqlite(workdir: Path, paths: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    """A fresh SQLite file next to the estate files."""
    path = workdir / "bench.db"
    try:
        return in_child("sqlite", f"sqlite:///{path}", paths, args)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def bench_postgres(paths: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    """A fresh database `flywheel_bench_<random>` on the server, dropped afterwards."""
    try:
        with postgres_database(args.postgres_url) as url:
            return in_child("postgresql", url, paths, args)
    except ServerUnavailable as exc:
        progress(f"postgresql skipped: {exc}")
        return {"status": "skipped", "reason": str(exc)}


def progress(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M CIs; 0.01 smoke test")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--queries", type=int, default=1000, help="timed impact queries")
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv", dest="fmt")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FLYWHEEL_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
    )
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    """Generate, then benchmark each backend in its own process; print one JSON line."""
    args = parse_args()
    if args.child_url:
        print(json.dumps(run_backend(args.child_url, args.files, args)))
        return
    plan = Plan.at(args.scale)
    with tempfile.TemporaryDirectory(prefix="flywheel-cmdb-bench-") as tmp:
        started = time.perf_counter()
        paths = write_estate(plan, Path(tmp), args.fmt, args.seed)
        generate_s = round(time.perf_counter() - started, 1)
        progress(f"estate written in {generate_s} s: {[p.name for p in paths]}")
        backends: dict[str, Any] = {}
        if args.backend in ("sqlite", "both"):
            progress("sqlite:")
            backends["sqlite"] = bench_sqlite(Path(tmp), paths, args)
        if args.backend in ("postgresql", "both"):
            progress("postgresql:")
            backends["postgresql"] = bench_postgres(paths, args)
        file_mb = round(sum(p.stat().st_size for p in paths) / 2**20, 1)
    report = {
        "benchmark": "cmdb_scale",
        "scale": args.scale,
        "format": args.fmt,
        "batch_size": args.batch_size,
        "estate": asdict(plan) | {"file_mb": file_mb, "generate_s": generate_s},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "targets": TARGETS,
        "backends": backends,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
