"""`flywheel delivery report`: the four keys and time-to-delivery from a running Flywheel."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from flywheel.cli.client import (
    DEFAULT_URL,
    TokenOption,
    UrlOption,
    connect,
    format_duration,
    parse_duration,
    parse_time,
)
from flywheel.cli.common import console
from flywheel.errors import InvalidInput

app = typer.Typer(help="Delivery metrics: DORA keys and time-to-delivery.", no_args_is_help=True)
PHASES = ("development", "approval", "queue", "rollout", "verification")


class ReportFormat(StrEnum):
    """How `delivery report` prints."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def parse_moment(text: str, option: str) -> datetime:
    """An ISO 8601 time, or a duration back from now (30d, 12h)."""
    try:
        return datetime.now(UTC) - parse_duration(text)
    except InvalidInput:
        pass
    try:
        return parse_time(text, option)
    except InvalidInput as exc:
        raise InvalidInput(f"{option} '{text}': give an ISO 8601 time or a span like 30d") from exc


def _seconds(value: float | None) -> str:
    return "no data" if value is None else format_duration_s(value)


def format_duration_s(seconds: float) -> str:
    """A duration in seconds, short: 45s, 3h12m, 2d4h."""
    span = timedelta(seconds=round(seconds))
    if span.days:
        return f"{span.days}d{span.seconds // 3600}h"
    return format_duration(span)


def rows(metrics: dict[str, Any], timing: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per service, and one for the total (service empty)."""
    phases = {s["service"]: s for s in timing["services"]}
    out = []
    for keys in [*metrics["services"], metrics["total"]]:
        key = keys["service"]
        breakdown = phases.get(key) if key else timing["total"]
        df, lead = keys["deployment_frequency"], keys["lead_time"]
        cfr, rec = keys["change_failure_rate"], keys["recovery_time"]
        row: dict[str, Any] = {
            "service": key or "",
            "deployments": df["deployments"],
            "deploys_per_day": df["per_day"],
            "deploy_band": df["band"],
            "lead_time_median_s": lead["median_s"],
            "lead_time_p90_s": lead["p90_s"],
            "lead_time_band": lead["band"],
            "change_failure_rate": cfr["rate"],
            "change_failure_band": cfr["band"],
            "recovery_median_s": rec["median_s"],
            "recovery_band": rec["band"],
            "delivered_changes": breakdown["changes"] if breakdown else 0,
        }
        for phase in PHASES:
            stats = breakdown["phases"][phase] if breakdown else None
            row[f"{phase}_median_s"] = stats["median_s"] if stats else None
        out.append(row)
    return out


def _band(value: str, band: str | None) -> str:
    return value if band is None else f"{value} ({band})"


def _table(found: list[dict[str, Any]], since: str, until: str) -> Table:
    table = Table(
        "service",
        "deploys/day",
        "lead time p50 / p90",
        "change failure",
        "recovery p50",
        *PHASES,
        title=f"delivery {since[:10]} to {until[:10]}",
    )
    for row in found:
        per_day = row["deploys_per_day"]
        rate = row["change_failure_rate"]
        lead = f"{_seconds(row['lead_time_median_s'])} / {_seconds(row['lead_time_p90_s'])}"
        table.add_row(
            escape(row["service"] or "all"),
            _band("no data" if per_day is None else f"{per_day:.2f}", row["deploy_band"]),
            _band(lead, row["lead_time_band"]),
            _band("no data" if rate is None else f"{rate:.1%}", row["change_failure_band"]),
            _band(_seconds(row["recovery_median_s"]), row["recovery_band"]),
            *(_seconds(row[f"{p}_median_s"]) for p in PHASES),
        )
    return table


@app.command("report")
def report(
    service: str | None = typer.Option(None, "--service", help="One service."),
    team: str | None = typer.Option(None, "--team", help="The services a team owns."),
    since: str | None = typer.Option(None, "--since", help="ISO 8601 time or span (90d)."),
    until: str | None = typer.Option(None, "--until", help="ISO 8601 time; default now."),
    fmt: ReportFormat = typer.Option(ReportFormat.TABLE, "--format", help="table, json or csv."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """The four DORA keys with their bands, and median time per delivery phase."""
    params = {
        "service": service,
        "team": team,
        "since": parse_moment(since, "--since").isoformat() if since else None,
        "until": parse_moment(until, "--until").isoformat() if until else None,
    }
    with connect(url, token) as client:
        metrics = client.get("/delivery/metrics", **params)
        timing = client.get("/delivery/time-to-delivery", **params)
    if fmt is ReportFormat.JSON:
        typer.echo(json.dumps({"metrics": metrics, "time_to_delivery": timing}, indent=2))
        return
    found = rows(metrics, timing)
    if fmt is ReportFormat.CSV:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(found[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(found)
        typer.echo(out.getvalue(), nl=False)
        return
    console.print(_table(found, metrics["since"], metrics["until"]))
