"""`flywheel slo status` and `flywheel delivery report` against a running server."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from datetime import timedelta

import httpx
import pytest

from flywheel.config import Settings
from flywheel.db import Database, utcnow
from tests.e2e.conftest import FLYWHEEL, Cli, Server
from tests.factories import Bake, make_ci, record_change, record_deployment


def _seed(database_url: str) -> None:
    now = utcnow()
    settings = Settings(database_url=database_url)
    db = Database(settings.resolved_database_url, settings)
    with db.session(write=True) as session:
        make_ci(session, "shop", "business_service")
        for days, errors in ((3, 0), (2, 0), (1, 40)):
            change = record_change(
                session,
                service="shop",
                created_at=now - timedelta(days=days, hours=5),
                commits=[now - timedelta(days=days, hours=8)],
            )
            record_deployment(
                session,
                service="shop",
                change_id=change.id,
                started_at=now - timedelta(days=days, hours=1),
                finished_at=now - timedelta(days=days),
                bakes=[Bake(now - timedelta(days=days, minutes=30), 1_000, errors)],
            )
        session.commit()
    db.dispose()


def _run(cli: Cli, server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**cli.env, "FLYWHEEL_URL": server.url, "FLYWHEEL_TOKEN": server.token, "COLUMNS": "250"}
    env.pop("FLYWHEEL_DATABASE_URL")  # a CI runner has no database, only the API
    return subprocess.run([*FLYWHEEL, *args], env=env, capture_output=True, text=True, timeout=120)


def test_slo_status_and_delivery_report(cli: Cli, server: Server, database_url: str) -> None:
    _seed(database_url)
    slo = {"service": "shop", "name": "avail", "objective": 99.9, "source": "deployments"}
    made = httpx.post(f"{server.url}/api/v1/slos", json=slo, headers=server.headers)
    assert made.status_code == 201, made.text

    table = _run(cli, server, "slo", "status")
    assert table.returncode == 3, table.stderr  # 40 errors of 3,000 spend a 3-error budget
    assert "shop" in table.stdout and "budget spent" in table.stdout
    as_json = json.loads(_run(cli, server, "slo", "status", "--format", "json").stdout)
    assert as_json[0]["objectives"][0]["total"] == 3_000

    report = _run(cli, server, "delivery", "report", "--since", "30d", "--format", "csv")
    assert report.returncode == 0, report.stderr
    rows = list(csv.DictReader(io.StringIO(report.stdout)))
    assert [r["service"] for r in rows] == ["shop", ""]
    assert rows[0]["deployments"] == "3"
    assert float(rows[0]["lead_time_median_s"]) == pytest.approx(8 * 3600, abs=0.01)
    assert rows[0]["change_failure_rate"] == "0.0"
    assert float(rows[0]["queue_median_s"]) > 0
    shown = _run(cli, server, "delivery", "report", "--service", "shop")
    assert shown.returncode == 0, shown.stderr
    assert "shop" in shown.stdout and "elite" in shown.stdout
    whole = json.loads(_run(cli, server, "delivery", "report", "--format", "json").stdout)
    assert whole["metrics"]["total"]["deployment_frequency"]["deployments"] == 3


def test_cli_errors_are_one_clean_line(cli: Cli, server: Server) -> None:
    unknown = _run(cli, server, "delivery", "report", "--service", "nowhere")
    assert unknown.returncode == 1
    assert "nowhere" in unknown.stderr and "Traceback" not in unknown.stderr
    bad = _run(cli, server, "delivery", "report", "--since", "last tuesday")
    assert bad.returncode == 1
    assert "--since 'last tuesday'" in bad.stderr
    missing = _run(cli, server, "slo", "status", "--service", "nowhere")
    assert missing.returncode == 1 and "nowhere" in missing.stderr
    env = {k: v for k, v in os.environ.items() if k != "FLYWHEEL_TOKEN"}
    no_token = subprocess.run(
        [*FLYWHEEL, "slo", "status", "--url", server.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_token.returncode == 1 and "no API token" in no_token.stderr
