"""`flywheel slo`: where each service level objective stands, from a running Flywheel.

Talks to the API (`--url`/FLYWHEEL_URL, `--token`/FLYWHEEL_TOKEN). Exit code of `status`:
0 every SLO within budget (or without data), 3 some error budget is spent.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from flywheel.cli.client import DEFAULT_URL, ApiClient, TokenOption, UrlOption, connect
from flywheel.cli.common import console

app = typer.Typer(help="Service level objectives and error budgets.", no_args_is_help=True)

EXIT_SPENT = 3


class StatusFormat(StrEnum):
    """How `slo status` prints."""

    TABLE = "table"
    JSON = "json"


def _all(client: ApiClient, service: str | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = client.get("/slos", service=service, cursor=cursor, limit=500)
        found += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return found


def _percent(value: float | None, digits: int = 3) -> str:
    return "no data" if value is None else f"{value:.{digits}f} %"


def _row(status: dict[str, Any], objective: dict[str, Any]) -> list[str]:
    slo = status["slo"]
    budget = objective["budget"]
    firing = [
        f"{a['severity']} {a['burn_rate']:g}x"
        for a in objective["alerts"]
        if a["status"] == "firing"
    ]
    remaining = "no data" if budget is None else f"{budget['remaining_fraction']:.1%}"
    return [
        slo["service"],
        slo["name"],
        objective["kind"],
        f"{objective['objective']:g} %",
        _percent(objective["sli"]),
        remaining,
        objective["status"],
        ", ".join(firing) or "-",
    ]


@app.command("status")
def status(
    service: str | None = typer.Option(None, "--service", help="Only this service's SLOs."),
    fmt: StatusFormat = typer.Option(StatusFormat.TABLE, "--format", help="table or json."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Attainment, error budget left and firing burn-rate alerts of each SLO."""
    with connect(url, token) as client:
        if service:
            client.get(f"/services/{service}/slo-status")  # 404 names an unknown service
        states = [client.get(f"/slos/{s['id']}/status") for s in _all(client, service)]
    spent = any(o["status"] == "budget spent" for s in states for o in s["objectives"])
    if fmt is StatusFormat.JSON:
        typer.echo(json.dumps(states, indent=2))
    elif not states:
        console.print(f"no SLOs{f' for {escape(service)}' if service else ''}")
    else:
        table = Table(
            "service", "slo", "objective", "target", "SLI", "budget left", "status", "alerts"
        )
        for state in states:
            for objective in state["objectives"]:
                table.add_row(*map(escape, _row(state, objective)))
        console.print(table)
    if spent:
        raise typer.Exit(EXIT_SPENT)
