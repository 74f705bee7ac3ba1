"""`flywheel probe`: HTTP probes of CIs over the API, and a probe worker on the server."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from flywheel.cli.client import DEFAULT_URL, TokenOption, UrlOption, connect
from flywheel.cli.common import console, database, settings

app = typer.Typer(help="HTTP probes: define, list, show, remove, run.", no_args_is_help=True)

FAILED_EXIT = 3


def _run_line(run: dict[str, Any]) -> str:
    verdict = "[green]ok[/]" if run["ok"] else "[red]FAILED[/]"
    code = run["status_code"] if run["status_code"] is not None else "-"
    latency = f"{run['latency_ms']:.0f} ms" if run["latency_ms"] is not None else "-"
    why = f" — {escape(run['error'])}" if run["error"] else ""
    return f"{escape(run['probe'])}: {verdict} status {code}, {latency}{why}"


@app.command("add")
def add(
    name: str = typer.Argument(help="A short name (lower case, digits, . _ -)."),
    target: str = typer.Argument(help="The URL to request (http or https)."),
    ci: str = typer.Option(..., "--ci", help="The configuration item the probe checks."),
    method: str = typer.Option("GET", help="GET or HEAD."),
    interval: int = typer.Option(60, help="Seconds between runs (at least 5)."),
    timeout: float | None = typer.Option(
        None, help="Seconds to wait for an answer [default: 5, at most half the interval]."
    ),
    expect: str = typer.Option("200-399", help="Accepted status: '200', '200-299', '200,204'."),
    body: str | None = typer.Option(None, help="Text the answer must contain."),
    failures: int = typer.Option(1, help="Consecutive failures before an alert fires."),
    severity: str = typer.Option("critical", help="critical, error, warning or info."),
    disabled: bool = typer.Option(False, "--disabled", help="Define it without running it."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Add an HTTP probe of a CI; it runs at once, then every --interval seconds."""
    payload = {
        "name": name,
        "ci_key": ci,
        "url": target,
        "method": method.upper(),
        "interval_s": interval,
        "timeout_s": timeout if timeout is not None else min(5.0, interval / 2),
        "expected_status": expect,
        "body_contains": body,
        "enabled": not disabled,
        "failures_to_alert": failures,
        "severity": severity,
    }
    with connect(url, token) as client:
        made = client.post("/probes", payload)
    console.print(f"probe {escape(made['name'])} added on {escape(made['ci_key'])}")


@app.command("list")
def list_probes(
    ci: str | None = typer.Option(None, "--ci", help="Only this CI's probes."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """List the probes and how they last went."""
    with connect(url, token) as client:
        probes = client.get("/probes", ci_key=ci)
    if as_json:
        print(json.dumps(probes, indent=2))
        return
    if not probes:
        console.print("no probes")
        return
    table = Table("probe", "CI", "method", "url", "every", "last", "alerting")
    for p in probes:
        last = "-" if p["last_ok"] is None else ("ok" if p["last_ok"] else "failed")
        cells = (p["name"], p["ci_key"], p["method"], p["url"], f"{p['interval_s']}s", last)
        alerting = "yes" if p["alerting"] else ("off" if not p["enabled"] else "no")
        table.add_row(*map(escape, cells), alerting)
    console.print(table)


@app.command("show")
def show(
    name: str = typer.Argument(help="The probe's name."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """A probe's settings and its latest runs."""
    with connect(url, token) as client:
        probe = client.get(f"/probes/{name}")
    if as_json:
        print(json.dumps(probe, indent=2))
        return
    console.print(
        escape(
            f"{probe['name']} on {probe['ci_key']}: {probe['method']} {probe['url']} every "
            f"{probe['interval_s']}s, timeout {probe['timeout_s']:g}s, expects "
            f"{probe['expected_status']}, alert after {probe['failures_to_alert']} failure(s)"
        )
    )
    share = probe["availability"]
    if share is not None:
        console.print(f"last {len(probe['recent'])} runs: {share:.1%} passed")
    for run in probe["recent"]:
        console.print(f"  {run['at']}  " + _run_line({**run, "probe": probe["name"]}))


@app.command("remove")
def remove(
    name: str = typer.Argument(help="The probe's name."),
    version: int | None = typer.Option(None, help="Refuse if the probe changed since."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Remove a probe and its runs."""
    path = f"/probes/{name}" + (f"?version={version}" if version is not None else "")
    with connect(url, token) as client:
        client.request("DELETE", path)
    console.print(f"probe {escape(name)} removed")


@app.command("run-once")
def run_once(
    name: str | None = typer.Argument(None, help="Run this probe now; without one, run the due."),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Run one probe now, or every due probe once; exit 3 when a run failed."""
    with connect(url, token) as client:
        runs = [client.post(f"/probes/{name}/run")] if name else client.post("/probe-runs")["ran"]
    if as_json:
        print(json.dumps(runs, indent=2))
    else:
        for run in runs:
            console.print(_run_line(run))
        if not runs:
            console.print("no probe was due")
    if any(not r["ok"] for r in runs):
        raise typer.Exit(FAILED_EXIT)


@app.command("worker")
def worker() -> None:
    """Run due probes until stopped (on the server; any number of workers share the work)."""
    from flywheel.incident.probe_runner import ProbeWorker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with database() as db:
        running = ProbeWorker(db, settings())
        running.start()
        console.print("probe worker running; Ctrl-C or SIGTERM stops it")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        running.stop()
