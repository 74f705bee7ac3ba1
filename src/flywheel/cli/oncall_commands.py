"""`flywheel oncall`: who is on call, and a schedule's coming shifts, over the API."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from flywheel.cli.client import DEFAULT_URL, TokenOption, UrlOption, connect, parse_time
from flywheel.cli.common import console

app = typer.Typer(help="On-call: who is on call, and the schedules.", no_args_is_help=True)


def _when(value: str) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M %Z")


def _shift_line(shift: dict[str, Any]) -> str:
    via = " (override)" if shift["override"] else ""
    span = f"{_when(shift['starts_at'])} → {_when(shift['ends_at'])}"
    return f"{escape(shift['username'])}{via}, {span}"


@app.command("who")
def who(
    schedule: str = typer.Argument(help="The schedule's key."),
    at: str | None = typer.Option(None, help="An ISO time (UTC without a zone); default now."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Who is on call on a schedule now (or --at a time)."""
    moment = parse_time(at, "--at").isoformat() if at else None
    with connect(url, token) as client:
        answer = client.get("/oncall/who", schedule=schedule, at=moment)
    if as_json:
        print(json.dumps(answer, indent=2))
        return
    shift = answer["on_call"]
    if shift is None:
        console.print(f"nobody is on call on {escape(schedule)} (before its first handoff)")
        return
    console.print(f"{escape(schedule)}: {_shift_line(shift)}")


@app.command("schedule")
def schedule(
    key: str | None = typer.Argument(None, help="A schedule's key; without one, list them."),
    days: int = typer.Option(7, min=1, max=92, help="Show this many days of shifts."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """List the schedules, or show one with its shifts for the coming days."""
    with connect(url, token) as client:
        answer = client.get(f"/oncall/schedules/{key}", days=days) if key else None
        listed = None if key else client.get("/oncall/schedules")
    if as_json:
        print(json.dumps(answer if key else listed, indent=2))
        return
    if listed is not None:
        table = Table("schedule", "name", "time zone", "handoff", "shift", "members")
        for s in listed:
            cells = (s["key"], s["name"], s["time_zone"], s["handoff"], f"{s['shift_hours']}h")
            table.add_row(*map(escape, cells), escape(", ".join(s["members"])))
        console.print(table if listed else "no on-call schedules")
        return
    assert answer is not None
    head = (
        f"{answer['key']}: {answer['name']} ({answer['time_zone']}, hands off {answer['handoff']})"
    )
    console.print(escape(head))
    for shift in answer["shifts"]:
        console.print("  " + _shift_line(shift))
