"""`flywheel deploy` against a real server, real HAProxy and real storefront processes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.deploy_support import LoadGenerator, describe_pool, running_pool
from tests.e2e.conftest import Cli, Server


def _as(cli: Cli, server: Server) -> Cli:
    return Cli({**cli.env, "FLYWHEEL_URL": server.url, "FLYWHEEL_TOKEN": server.token})


def test_run_wait_exits_0_on_success_and_3_on_rollback(
    cli: Cli, server: Server, tmp_path: Path
) -> None:
    fw = _as(cli, server)
    with running_pool(tmp_path / "pool", size=3, version="v1") as pool:
        describe_pool(pool, server.url, server.headers)
        args = ["deploy", "run", "--pool", "shop-pool", "--env", "staging", "--bake", "1s"]
        good = fw(*args, "--version", "v2", "--wait", check=False)
        assert good.returncode == 0, good.stderr
        assert "is succeeded" in good.stdout
        run_id = good.stdout.split()[1]
        status = json.loads(fw("deploy", "status", run_id, "--json").stdout)
        assert status["state"] == "succeeded"
        assert {s["action"] for s in status["steps"]} >= {"drain", "start", "bake"}
        table = fw("deploy", "status", run_id).stdout
        assert "wait_healthy" in table
        with LoadGenerator(pool.frontend_port):  # only traffic shows the fault
            bad = fw(*args, "--version", "v3-faulty", "--wait", check=False)
        assert bad.returncode == 3, bad.stdout + bad.stderr
        assert "rolled_back" in bad.stdout
        assert {pool.target.running_version(i) for i in pool.instances} == {"v2"}


def test_bad_arguments_are_named(cli: Cli, server: Server) -> None:
    fw = _as(cli, server)
    missing = fw("deploy", "run", "--version", "v2", check=False)
    assert missing.returncode != 0
    assert "--service or --pool" in missing.stderr
    unknown = fw("deploy", "run", "--pool", "nope", "--version", "v2", check=False)
    assert unknown.returncode == 1
    assert "no configuration item 'nope'" in unknown.stderr
    absent = fw("deploy", "status", "999", check=False)
    assert absent.returncode == 1
    assert "no deployment 999" in absent.stderr
