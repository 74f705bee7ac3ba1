"""`flywheel problem` and `flywheel known-error` against a running server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from flywheel.config import Settings
from flywheel.db import Database
from tests.e2e.conftest import FLYWHEEL, Cli, Server
from tests.factories import make_incident


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLYWHEEL, *args], env=env, capture_output=True, text=True, timeout=120)


def test_suggest_accept_analyse_route_close_and_known_errors(
    cli: Cli, server: Server, tmp_path: Path, database_url: str
) -> None:
    db = Database(database_url, Settings(database_url=database_url, warm_indexes=False))
    incidents = [make_incident(db, service="shop", title="OutOfMemory on shop") for _ in range(3)]
    db.dispose()
    env = {**cli.env, "FLYWHEEL_URL": server.url, "FLYWHEEL_TOKEN": server.token, "COLUMNS": "200"}
    suggested = _run(env, "problem", "suggest", "--json")
    assert suggested.returncode == 0, suggested.stderr
    [suggestion] = json.loads(suggested.stdout)
    assert sorted(suggestion["incident_ids"]) == incidents
    accepted = _run(
        env, "problem", "accept", str(suggestion["id"]), "--title", "Shop runs out of memory"
    )
    assert accepted.returncode == 0, accepted.stderr
    number = accepted.stdout.split()[0]
    assert number.startswith("PRB")
    bad = _run(env, "problem", "rca", number, "--category", "bogus")
    assert (
        bad.returncode == 1 and "--category 'bogus'" in bad.stderr and "Traceback" not in bad.stderr
    )
    rca = _run(
        env,
        "problem",
        "rca",
        number,
        "--why",
        "OOM kill",
        "--why",
        "cache unbounded",
        "--root-cause",
        "cache has no size limit",
        "--category",
        "operational/procedural",
    )
    assert rca.returncode == 0 and "analysis recorded" in rca.stdout, rca.stderr
    bad_due = _run(env, "problem", "route", number, "--owner", "olga", "--due", "soon")
    assert bad_due.returncode == 1 and "--due 'soon'" in bad_due.stderr
    routed = _run(env, "problem", "route", number, "--owner", "olga", "--due", "2999-01-01")
    assert routed.returncode == 0 and "task → olga" in routed.stdout, routed.stderr
    blocked = _run(env, "problem", "close", number, "--resolution", "cancelled")
    assert (
        blocked.returncode == 1
        and "open fix" in blocked.stderr
        and "Traceback" not in blocked.stderr
    )
    shown = _run(env, "problem", "show", number)
    assert "cache has no size limit" in shown.stdout and "why 2: cache unbounded" in shown.stdout
    assert f"INC{incidents[0]:07d}" in shown.stdout
    assert number in _run(env, "problem", "list").stdout
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=server.headers) as api:
        made = api.post(
            "/known-errors",
            json={
                "problem": number,
                "title": "OOM",
                "workaround": "restart shop",
                "text": "OutOfMemory",
            },
        )
        assert made.status_code == 201, made.text
    listed = _run(env, "known-error", "list")
    assert "restart shop" in listed.stdout, listed.stderr
    matched = _run(env, "known-error", "match", f"INC{incidents[0]:07d}")
    assert matched.returncode == 0 and "workaround: restart shop" in matched.stdout, matched.stderr
    missing = _run(env, "problem", "show", "PRB0000999")
    assert missing.returncode == 1 and "no problem 999" in missing.stderr
