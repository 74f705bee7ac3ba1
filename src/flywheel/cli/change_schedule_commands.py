"""`flywheel change reschedule`: move a change that has not started to a new window."""

from __future__ import annotations

import typer
from rich.markup import escape

from flywheel.cli.change_commands import app
from flywheel.cli.client import (
    DEFAULT_URL,
    TokenOption,
    UrlOption,
    change_id,
    connect,
    parse_time,
)
from flywheel.cli.common import console
from flywheel.errors import InvalidInput


@app.command("reschedule")
def reschedule(
    change: str = typer.Argument(..., metavar="ID"),
    start: str = typer.Option(..., "--start", help="New planned start, ISO 8601 (UTC if no zone)."),
    end: str = typer.Option(..., "--end", help="New planned end, ISO 8601 (UTC if no zone)."),
    break_glass: str | None = typer.Option(
        None, "--break-glass", help="Reason to move an approved change into a freeze anyway."
    ),
    row_version: int | None = typer.Option(
        None, "--row-version", help="Refuse if the change moved on since this version."
    ),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Move a change that has not started; conflicts and windows are checked again."""
    begin, finish = parse_time(start, "--start"), parse_time(end, "--end")
    if finish <= begin:
        raise InvalidInput("--end must be after --start")
    body = {
        "planned_start": begin.isoformat(),
        "planned_end": finish.isoformat(),
        "row_version": row_version,
        "break_glass_reason": break_glass,
    }
    with connect(url, token) as client:
        moved = client.post(f"/changes/{change_id(change)}/reschedule", body)
    console.print(
        f"{moved['number']} rescheduled: {moved['planned_start']} to {moved['planned_end']}, "
        f"now {moved['state']}",
        soft_wrap=True,
    )
    decision = moved.get("decision") or {}
    for conflict in decision.get("conflicts", []):
        console.print(f"  conflicts with {conflict['change']} on {escape(conflict['ci'])}")
    for blocker in decision.get("blockers", []):
        console.print(f"  blocked by {escape(blocker['window'])}")
    if decision.get("override"):
        console.print(f"  freeze overridden by {escape(decision['override']['by'])}")
