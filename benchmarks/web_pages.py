"""Server time of every console page on a seeded database, SQLite and PostgreSQL (issue 10).

Seeds an estate through the service functions (benchmarks/console_estate.py), starts the app
in-process (its lifespan warms the CMDB index as `flywheel serve` does), signs in through the
sign-in form, and times each page: a few warm-up requests, then --repeat timed requests one at
a time. In-process, so a request's time is the server's time plus the test client's small
overhead. Progress goes to stderr, one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from console_estate import PASSWORD, Scale, seed, seed_response
from flywheel import migrate
from flywheel.app import create_app
from flywheel.change.models import ChangeRequest
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.deploy.models import Deployment
from flywheel.incident.models import Incident
from flywheel.problem.models import Problem
from scratch import ServerUnavailable, postgres_database

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
BUDGET_MS = 300.0
WARM_UP = 3


def progress(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def sign_in(client: TestClient, username: str) -> None:
    """Sign in through the form, as a browser does."""
    page = client.get("/sign-in")
    found = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert found, page.text
    form = {"nonce": found.group(1), "username": username, "password": PASSWORD}
    answer = client.post("/sign-in", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text


def pages(db: Database) -> dict[str, str]:
    """The pages to time, with ids picked from the seeded data."""
    with db.session() as session:
        held = session.scalar(
            select(ChangeRequest.id).where(ChangeRequest.state == "authorize").limit(1)
        )
        run, deployed = session.execute(
            select(Deployment.id, Deployment.change_id).order_by(Deployment.id.desc()).limit(1)
        ).one()
        open_incident = session.scalar(
            select(Incident.id).where(Incident.state == "triggered").order_by(Incident.id.desc())
        )
        problem = session.scalar(select(Problem.id).where(Problem.root_cause != "").limit(1))
    return {
        "overview": "/",
        "changes": "/changes",
        "changes_held": "/changes?state=authorize",
        "calendar": "/changes/calendar",
        "change_held": f"/changes/{held}",
        "change_deployed": f"/changes/{deployed}",
        "deployments": "/deployments",
        "deployment": f"/deployments/{run}",
        "cmdb_search": "/cmdb?q=tenant-0",
        "ci_business_service": "/cmdb/ci/checkout",
        "ci_pool": "/cmdb/ci/checkout-pool",
        "what_if": "/cmdb/what-if?keys=checkout-db",
        "audit": "/audit",
        "audit_verify_action": "/audit/verify?fragment=1",
        "incidents": "/incidents",
        "incidents_open_p1": "/incidents?state=open&priority=P1",
        "incident_open": f"/incidents/{open_incident}",
        "delivery_90d": "/delivery?days=90",
        "delivery_service": "/delivery?days=30&service=checkout",
        "service_levels": "/service-levels",
        "tenant_report": "/service-levels/tenants?tenant=tenant-00001&months=6",
        "tenant_report_csv": "/service-levels/tenants/tenant-00001/availability.csv",
        "problems": "/problems",
        "problem": f"/problems/{problem}",
        "known_errors": "/problems/known-errors",
    }


def time_pages(client: TestClient, targets: dict[str, str], repeat: int) -> dict[str, Any]:
    """p50/p95/max milliseconds per page."""
    results: dict[str, Any] = {}
    for name, url in targets.items():
        for _ in range(WARM_UP):
            answer = client.get(url)
            assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            answer = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, url
        timings.sort()
        results[name] = {
            "p50_ms": round(statistics.median(timings), 1),
            "p95_ms": round(timings[max(0, round(0.95 * len(timings)) - 1)], 1),
            "max_ms": round(timings[-1], 1),
        }
        progress(f"  {name:22s} {results[name]}")
    return results


def run(url: str, backend: str, scale: Scale, repeat: int, home: Path) -> dict[str, Any]:
    """Seed, then time every page (signed in as a change manager, then as an admin)."""
    migrate.upgrade(url)
    settings = Settings(
        home=home, database_url=url, secret_key="bench", work_database_url=f"sqlite:///{home}/w"
    )
    db = Database(settings.resolved_database_url, settings)
    started = time.perf_counter()
    now = utcnow()
    made = seed(db, scale, now=now)
    made.update(seed_response(db, scale, now=now))
    progress(f"{backend}: seeded {made} in {time.perf_counter() - started:.0f} s")
    with TestClient(create_app(settings, db)) as client:
        time.sleep(2)  # the lifespan warms the CMDB index in the background
        sign_in(client, "carl")  # a change manager: the overview lists what awaits them
        timings = time_pages(client, {"overview_change_manager": "/"}, repeat)
        sign_in(client, "admin")  # sees every section, the audit trail included
        timings.update(time_pages(client, pages(db), repeat))
    db.dispose()
    worst = max(v["p95_ms"] for k, v in timings.items() if not k.endswith("_action"))
    return {"seeded": made, "pages": timings, "worst_page_p95_ms": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--tenants", type=int, default=Scale.tenants)
    parser.add_argument("--changes", type=int, default=Scale.changes)
    parser.add_argument("--deployments", type=int, default=Scale.deployments)
    parser.add_argument("--incidents", type=int, default=Scale.incidents)
    args = parser.parse_args()
    scale = Scale(
        tenants=args.tenants,
        changes=args.changes,
        deployments=args.deployments,
        incidents=args.incidents,
    )
    out: dict[str, Any] = {
        "benchmark": "web_pages",
        "python": platform.python_version(),
        "scale": scale.__dict__,
        "repeat": args.repeat,
        "budget_ms": BUDGET_MS,
    }
    with tempfile.TemporaryDirectory(prefix="fw-bench-web-") as tmp:
        if args.backend in ("sqlite", "both"):
            url = f"sqlite:///{tmp}/flywheel.db"
            out["sqlite"] = run(url, "sqlite", scale, args.repeat, Path(tmp) / "home-sqlite")
        if args.backend in ("postgresql", "both"):
            try:
                with postgres_database(args.postgres) as url:
                    home = Path(tmp) / "home-pg"
                    out["postgresql"] = run(url, "postgresql", scale, args.repeat, home)
            except ServerUnavailable as exc:
                out["postgresql"] = {"skipped": str(exc)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
