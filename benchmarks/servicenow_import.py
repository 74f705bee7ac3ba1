"""The ServiceNow incident export imported into a fresh database, then again (issue 7).

For each backend: migrate a scratch database, import the whole real export
(`../shared/data/servicenow-incidents/incident_event_log.csv.gz`) the way
`flywheel incident import-servicenow` does, then import it again (which must change
nothing). Prints one JSON line: seconds for both, what was written, and the figures the
import reports about the data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from change_decisions import DEFAULT_POSTGRES, progress, scratch_database, source_revision
from flywheel import migrate
from flywheel.auth.actor import system_actor
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.incident.servicenow_import import import_export

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT.parent / "shared" / "data" / "servicenow-incidents" / "incident_event_log.csv.gz"
TARGET_SECONDS = 60.0
KEPT = ("rows", "incidents", "events", "created", "updated", "unchanged", "events_written")


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Import twice into a scratch database of the backend."""
    with scratch_database(backend, args.postgres_url) as url:
        migrate.upgrade(url)
        db = Database(url, Settings(database_url=url, warm_indexes=False))
        actor = system_actor("benchmark")
        try:
            load = os.getloadavg()
            began = time.perf_counter()
            first = import_export(db, path=args.file, actor=actor, chunk_size=args.chunk_size)
            first_s = time.perf_counter() - began
            began = time.perf_counter()
            again = import_export(db, path=args.file, actor=actor, chunk_size=args.chunk_size)
            again_s = time.perf_counter() - began
        finally:
            db.dispose()
    return {
        "status": "ok",
        "import_s": round(first_s, 2),
        "reimport_s": round(again_s, 2),
        "first": {k: first[k] for k in KEPT},
        "again": {k: again[k] for k in KEPT},
        "load_average_before": [round(x, 2) for x in load],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "report": {k: v for k, v in first.items() if k not in KEPT},
        "targets_met": first_s < TARGET_SECONDS and again["unchanged"] == again["incidents"],
    }


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--file", type=Path, default=EXPORT)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FLYWHEEL_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="PostgreSQL server on which to create (and drop) a scratch database",
    )
    return parser.parse_args()


def main() -> None:
    """Run the benchmark and print one JSON line."""
    args = parse_args()
    chosen = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    backends: dict[str, Any] = {}
    for backend in chosen:
        progress(f"{backend}: importing {args.file}")
        try:
            backends[backend] = run_backend(backend, args)
        except (SQLAlchemyError, OSError) as exc:
            progress(f"{backend} skipped: {exc}")
            backends[backend] = {"status": "skipped", "reason": str(exc).splitlines()[0]}
    measured = [b for b in backends.values() if b["status"] == "ok"]
    summary = {
        "benchmark": "servicenow_import",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "source": source_revision(),
        "targets": {"import_s_below": TARGET_SECONDS},
        "backends": backends,
        "targets_met": bool(measured) and all(b["targets_met"] for b in measured),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
