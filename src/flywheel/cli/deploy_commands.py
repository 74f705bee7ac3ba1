"""`flywheel deploy`: start rolling bounces from a pipeline, follow them, pause, resume, roll back.

These commands talk to a running Flywheel (`--url`/FLYWHEEL_URL, `--token`/FLYWHEEL_TOKEN).
Exit codes of `run --wait`: 0 succeeded; 3 rolled back, aborted or failed; 4 still running
when --timeout passed; 1 bad input, a failing gate, or an error from Flywheel.
"""

from __future__ import annotations

import json
import time
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flywheel.cli.client import (
    DEFAULT_URL,
    ApiClient,
    TokenOption,
    Unavailable,
    UrlOption,
    connect,
    parse_duration,
)
from flywheel.cli.common import console, err_console

app = typer.Typer(
    help="Rolling-bounce deployments: run, follow, pause, resume, roll back.", no_args_is_help=True
)

EXIT_SUCCEEDED, EXIT_UNDONE, EXIT_TIMEOUT = 0, 3, 4
FINAL = frozenset({"succeeded", "rolled_back", "failed", "aborted"})
Run = dict[str, Any]


def _settings(batch_size: int | None, max_unavailable: str | None, bake: str | None) -> Run:
    settings: Run = {}
    if batch_size is not None:
        settings["batch_size"] = batch_size
    if max_unavailable is not None:
        settings["max_unavailable"] = (
            int(max_unavailable) if max_unavailable.isdigit() else max_unavailable
        )
    if bake is not None:
        settings["bake_s"] = parse_duration(bake).total_seconds()
    return settings


def _steps_done(run: Run) -> int:
    return sum(1 for s in run.get("steps", []) if s["state"] != "running")


def follow(client: ApiClient, run: Run, *, timeout_s: float, quiet: bool) -> Run:
    """Poll a run until it ends or the timeout passes, with a progress bar on a terminal."""
    total = len(run["plan"]["batches"]) * 9 or 1
    deadline = time.monotonic() + timeout_s
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, disable=quiet, transient=True) as bar:
        task = bar.add_task(f"deployment {run['id']}", total=total)
        while run["state"] not in FINAL and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                run = client.get(f"/deployments/{run['id']}")
            except Unavailable as exc:
                err_console.print(f"  still waiting ({escape(exc.message)})")
                continue
            last = run["steps"][-1] if run.get("steps") else None
            what = f"{last['phase']} batch {last['batch'] + 1}: {last['action']}" if last else ""
            bar.update(
                task, completed=min(_steps_done(run), total), description=f"{run['state']} {what}"
            )
    return run


def _summary(run: Run) -> str:
    return (
        f"deployment {run['id']}: {run['pool']} → {run['version']} is {run['state']}"
        f"{' — ' + run['status_reason'] if run.get('status_reason') else ''}"
    )


@app.command("run")
def run_command(
    version: str = typer.Option(..., "--version", help="The version to roll out."),
    service: str | None = typer.Option(None, "--service", help="The service (its pool is used)."),
    pool: str | None = typer.Option(None, "--pool", help="The pool to bounce."),
    environment: str = typer.Option("production", "--environment", "--env"),
    change: int | None = typer.Option(None, "--change", help="The approved change's id."),
    batch_size: int | None = typer.Option(None, "--batch-size"),
    max_unavailable: str | None = typer.Option(None, "--max-unavailable", help="4 or 25%."),
    bake: str | None = typer.Option(None, "--bake", help="Watch each batch this long (10s)."),
    wait: bool = typer.Option(False, "--wait", help="Follow the run until it ends."),
    timeout: str = typer.Option("1h", help="With --wait: give up after this long (exit 4)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run as JSON on stdout."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Start a rolling bounce; with --wait exit 0 succeeded, 3 rolled back/failed, 4 timeout."""
    if service is None and pool is None:
        raise typer.BadParameter("name --service or --pool")
    body: Run = {
        "version": version,
        "environment": environment,
        "settings": _settings(batch_size, max_unavailable, bake),
    }
    for key, value in (("service", service), ("pool", pool), ("change_id", change)):
        if value is not None:
            body[key] = value
    limit = parse_duration(timeout).total_seconds()
    with connect(url, token) as client:
        run: Run = client.post("/deployments", body)
        if not as_json:
            batches = " | ".join(",".join(b) for b in run["plan"]["batches"])
            console.print(f"deployment {run['id']} started: {escape(batches)}", soft_wrap=True)
        if wait:
            run = follow(client, run, timeout_s=limit, quiet=as_json)
    console.print_json(json.dumps(run)) if as_json else console.print(escape(_summary(run)))
    if wait:
        if run["state"] not in FINAL:
            raise typer.Exit(EXIT_TIMEOUT)
        raise typer.Exit(EXIT_SUCCEEDED if run["state"] == "succeeded" else EXIT_UNDONE)


@app.command("status")
def status_command(
    deployment: int = typer.Argument(..., help="The deployment's id."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """A run's state and every step it took."""
    with connect(url, token) as client:
        run: Run = client.get(f"/deployments/{deployment}")
    if as_json:
        console.print_json(json.dumps(run))
        return
    console.print(escape(_summary(run)), soft_wrap=True)
    table = Table("#", "phase", "batch", "action", "instances", "state", "detail")
    for step in run["steps"]:
        detail = step["detail"].get("reason") or step["detail"].get("verdict") or ""
        table.add_row(
            str(step["seq"]),
            step["phase"],
            str(step["batch"] + 1),
            step["action"],
            ", ".join(step["instances"]),
            step["state"],
            escape(str(detail)),
        )
    console.print(table)


def _control(
    action: str, deployment: int, reason: str, url: str, token: str | None, override: bool = False
) -> None:
    with connect(url, token) as client:
        run: Run = client.post(
            f"/deployments/{deployment}/{action}", {"reason": reason, "override_gates": override}
        )
    console.print(escape(_summary(run)), soft_wrap=True)


@app.command("pause")
def pause_command(
    deployment: int = typer.Argument(...),
    reason: str = typer.Option(""),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Pause a run before its next batch."""
    _control("pause", deployment, reason, url, token)


@app.command("resume")
def resume_command(
    deployment: int = typer.Argument(...),
    reason: str = typer.Option(""),
    override_gates: bool = typer.Option(
        False, "--override-gates", help="Go on past a failing gate (allowed roles)."
    ),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Resume a paused run."""
    _control("resume", deployment, reason, url, token, override_gates)


@app.command("abort")
def abort_command(
    deployment: int = typer.Argument(...),
    reason: str = typer.Option(""),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Stop a run and roll back the batches it did."""
    _control("abort", deployment, reason, url, token)


@app.command("rollback")
def rollback_command(
    deployment: int = typer.Argument(...),
    reason: str = typer.Option(""),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Roll a run back: in flight it undoes its batches; finished, the old versions return."""
    _control("rollback", deployment, reason, url, token)
