"""How long `flywheel demo --no-live` takes to seed the scenario and record its history.

Runs the real command on a scratch SQLite home (or the given database URL) and prints one
JSON line: wall and CPU seconds of the whole command, the history's own seconds and size,
and the load average around the run (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HISTORY_LINE = re.compile(
    r"history: (\d+) days, (\d+) changes, (\d+) outages, ([\d,]+) steps in ([\d.]+) s"
)


def _loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--tenants", type=int, default=20_000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a scratch home")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flywheel-demo-bench-") as home:
        env = {**os.environ, "FLYWHEEL_HOME": home, "COLUMNS": "200", "FLYWHEEL_PORT": "18959"}
        if args.database_url:
            env["FLYWHEEL_DATABASE_URL"] = args.database_url
        command = [sys.executable, "-m", "flywheel", "demo", "--no-live"]
        command += ["--days", str(args.days), "--tenants", str(args.tenants)]
        load_before, started = _loadavg(), time.monotonic()
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
        wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(result.stdout[-2000:], result.stderr[-2000:], file=sys.stderr)
    found = HISTORY_LINE.search(result.stdout)
    if result.returncode != 0 or found is None:
        sys.exit(f"flywheel demo failed (exit {result.returncode})")
    days, changes, outages, steps, history_s = found.groups()
    report = {
        "backend": "postgresql" if args.database_url else "sqlite",
        "tenants": args.tenants,
        "days": int(days),
        "changes": int(changes),
        "outages": int(outages),
        "steps": int(steps.replace(",", "")),
        "history_s": float(history_s),
        "command_wall_s": round(wall, 1),
        "command_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
