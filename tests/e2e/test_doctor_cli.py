"""`flywheel doctor` says what is wrong with an installation, in plain words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flywheel import migrate
from flywheel.db import Database
from tests.e2e.conftest import Cli
from tests.factories import make_ci


def _findings(cli: Cli) -> tuple[int, dict[str, Any]]:
    run = cli("doctor", "--json", check=False)
    found = json.loads(run.stdout)
    return run.returncode, {f["check"]: f for f in found["findings"]}


def test_a_healthy_install_passes_every_check(cli: Cli) -> None:
    cli("init")
    code, found = _findings(cli)
    assert code == 0
    assert {"database", "schema", "audit chain", "durable work"} <= found.keys()
    assert all(f["status"] in ("ok", "warn") for f in found.values())
    assert found["audit chain"]["detail"].startswith("intact")


def test_an_unanswering_load_balancer_fails_with_what_to_do(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    cli("init")
    socket = tmp_path / "missing" / "haproxy.sock"
    deploy = {"target": {"driver": "local", "state_dir": str(tmp_path)}}
    deploy["load_balancer"] = {"driver": "haproxy", "socket": str(socket), "backend": "web"}
    with db.session(write=True) as session:
        make_ci(session, "web-pool", "service_pool", attributes={"deploy": deploy})
        session.commit()

    code, found = _findings(cli)

    assert code == 1
    lb = found["load balancer of web-pool"]
    assert lb["status"] == "fail" and str(socket) in lb["detail"]
    assert "HAProxy" in lb["fix"]


def test_an_old_schema_and_a_missing_database_are_named(cli: Cli, tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    migrate.upgrade(f"sqlite:///{old}", "0001")
    behind = Cli({**cli.env, "FLYWHEEL_DATABASE_URL": f"sqlite:///{old}"})
    code, found = _findings(behind)
    assert code == 1 and found["schema"]["status"] == "fail"
    assert "flywheel db upgrade" in found["schema"]["fix"]

    gone = Cli({**cli.env, "FLYWHEEL_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    run = gone("doctor", check=False)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "cannot connect" in run.stdout
