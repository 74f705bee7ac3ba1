"""`flywheel probe` against a real server, real HTTP targets and two real worker processes."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import httpx

from tests.e2e.conftest import FLYWHEEL, Cli, Server
from tests.probe_targets import serving


def _as(cli: Cli, server: Server) -> Cli:
    return Cli({**cli.env, "FLYWHEEL_URL": server.url, "FLYWHEEL_TOKEN": server.token})


def test_add_list_show_run_once_and_remove(cli: Cli, server: Server) -> None:
    fw = _as(cli, server)
    with serving("ok") as healthy, serving("fail") as broken:
        # An hour apart: a loaded machine must not make them due again during the test.
        every = ("--interval", "3600")
        fw("probe", "add", "home", healthy.url, "--ci", "shop", "--body", "healthy", *every)
        fw("probe", "add", "checkout", broken.url, "--ci", "shop", "--method", "head", *every)
        listed = json.loads(fw("probe", "list", "--json").stdout)
        assert [p["name"] for p in listed] == ["checkout", "home"]

        due = fw("probe", "run-once", check=False)
        assert due.returncode == 3, due.stdout + due.stderr
        assert "home: ok status 200" in due.stdout
        assert "checkout: FAILED status 500" in due.stdout
        assert "no probe was due" in fw("probe", "run-once").stdout
        assert fw("probe", "run-once", "home").returncode == 0

        shown = fw("probe", "show", "checkout").stdout
        assert "HEAD" in shown and "0.0% passed" in shown
        table = fw("probe", "list").stdout
        assert "checkout" in table and "yes" in table  # alerting
    fw("probe", "remove", "checkout")
    missing = fw("probe", "show", "checkout", check=False)
    assert missing.returncode == 1 and "no probe 'checkout'" in missing.stderr


def test_bad_probe_arguments_are_named(cli: Cli, server: Server) -> None:
    fw = _as(cli, server)
    bad = fw(
        "probe", "add", "x", "http://127.0.0.1:1/", "--ci", "s", "--expect", "2xx", check=False
    )
    assert bad.returncode == 1 and "expected_status" in bad.stderr
    slow = fw(
        "probe",
        "add",
        "y",
        "http://127.0.0.1:1/",
        "--ci",
        "s",
        "--interval",
        "5",
        "--timeout",
        "9",
        check=False,
    )
    assert slow.returncode == 1 and "timeout_s" in slow.stderr


def test_two_workers_run_each_interval_once(cli: Cli, server: Server) -> None:
    fw = _as(cli, server)
    env = {**cli.env, "FLYWHEEL_PROBE_POLL_SECONDS": "0.1"}
    with serving("ok") as target:
        fw("probe", "add", "home", target.url, "--ci", "shop", "--interval", "5")
        added = time.monotonic()
        workers = [
            subprocess.Popen(
                [*FLYWHEEL, "probe", "worker"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            for w in workers:  # both polling before the clock starts (slow starts under load)
                assert w.stdout is not None
                assert "probe worker running" in w.stdout.readline()
            time.sleep(11)
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(timeout=30)
        elapsed = time.monotonic() - added
        hits = target.hits
    assert [w.returncode for w in workers] == [0, 0], [w.stderr.read() for w in workers if w.stderr]
    shown = httpx.get(f"{server.url}/api/v1/probes/home", headers=server.headers).json()
    runs = len(shown["recent"])
    # One run per 5 s slot since the probe was added, whichever worker claimed it; two
    # workers each running every slot would make about twice as many.
    assert 2 <= runs <= 1 + int(elapsed // 5), (runs, elapsed)
    assert hits == runs
