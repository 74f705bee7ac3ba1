"""`flywheel incident`: see and answer incidents from a terminal, over the API.

These commands talk to a running Flywheel (`--url`/FLYWHEEL_URL, `--token`/FLYWHEEL_TOKEN),
except `import-servicenow`, which loads a file into the local database like `cmdb import`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Column, Table

from flywheel.cli.client import DEFAULT_URL, ApiClient, TokenOption, UrlOption, connect
from flywheel.cli.common import cli_actor, console, database, err_console
from flywheel.errors import InvalidInput
from flywheel.incident import servicenow_import

app = typer.Typer(
    help="Incidents: list, show, acknowledge, resolve, annotate.", no_args_is_help=True
)

Incident = dict[str, Any]
_INCIDENT_ID = re.compile(r"(?:inc)?0*(\d+)", re.IGNORECASE)
_STATES = ("open", "triggered", "acknowledged", "resolved", "all")


def incident_id(text: str) -> int:
    """The numeric id of '42' or 'INC0000042'; InvalidInput otherwise."""
    found = _INCIDENT_ID.fullmatch(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise InvalidInput(f"'{text}' is not an incident id (e.g. 42 or INC0000042)")
    return int(found.group(1))


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M") if value else ""


@app.command("list")
def list_command(
    state: str = typer.Option("open", help=f"One of {', '.join(_STATES)}."),
    priority: str | None = typer.Option(None, help="P1 … P4."),
    service: str | None = typer.Option(None, help="Only this service."),
    limit: int = typer.Option(50, min=1, max=500, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print the page as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Incidents, newest first (open ones by default)."""
    if state not in _STATES:
        raise InvalidInput(f"--state '{state}' must be one of {', '.join(_STATES)}")
    with connect(url, token) as client:
        page = client.get(
            "/incidents",
            state=None if state == "all" else state,
            priority=priority,
            service=service,
            limit=limit,
        )
    if as_json:
        print(json.dumps(page, indent=2))
        return
    fixed = [Column(n, no_wrap=True) for n in ("incident", "pri", "state", "service")]
    table = Table(
        *fixed, "title", Column("alerts", justify="right"), Column("opened", no_wrap=True)
    )
    for i in page["items"]:
        flags = " (flapping)" if i["flapping"] else ""
        cells = (i["number"], i["priority"], i["state"] + flags, i["service"], i["title"])
        table.add_row(*map(escape, cells), str(i["alert_count"]), _when(i["opened_at"]))
    console.print(table if page["items"] else f"no {'' if state == 'all' else state} incidents")
    if page.get("next_cursor"):
        console.print(f"(newest {limit}; raise --limit for more)")


def _details(incident: Incident) -> Table:
    grid = Table.grid(padding=(0, 2))
    impact = incident.get("impact") or {}
    rows = {
        "incident": f"{incident['number']} {incident['priority']} ({incident['state']})",
        "title": incident["title"],
        "service": incident["service"] + ("" if incident["service_known"] else " (not in CMDB)"),
        "impact": impact.get("summary", ""),
        "cis": ", ".join(incident["ci_keys"]),
        "opened": _when(incident["opened_at"]),
        "acknowledged": _by(incident["acknowledged_at"], incident["acknowledged_by"]),
        "resolved": _by(incident["resolved_at"], incident["resolved_by"]),
        "alerts": f"{incident['alert_count']} ({incident['firing_count']} firing)",
        "flapping": "yes" if incident["flapping"] else "",
        "external": incident.get("external_id") or "",
    }
    for label, value in rows.items():
        if value:
            grid.add_row(f"[bold]{label}[/]", escape(str(value)))
    return grid


def _by(when: str | None, who: str | None) -> str:
    return f"{_when(when)} by {who}" if when else ""


@app.command("show")
def show(
    incident: str = typer.Argument(..., metavar="ID", help="42 or INC0000042."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """An incident with its alerts, links and timeline."""
    with connect(url, token) as client:
        found: Incident = client.get(f"/incidents/{incident_id(incident)}")
    if as_json:
        print(json.dumps(found, indent=2))
        return
    console.print(_details(found))
    alerts = Table("alert", "status", "ci", "seen", "last seen", title="alerts")
    for a in found["alerts"]:
        ci = (a["ci_key"] or "") + (" (unknown)" if a["ci_unknown"] and a["ci_key"] else "")
        cells = (a["alertname"], a["status"], ci, str(a["received"]), _when(a["last_seen"]))
        alerts.add_row(*map(escape, cells))
    if found["alerts"]:
        console.print(alerts)
    for link in found["links"]:
        console.print(f"linked {escape(link['kind'])} {escape(link['ref'])} {escape(link['note'])}")
    timeline = Table("when", "what", "who", "summary", title="timeline")
    for e in found["timeline"]:
        timeline.add_row(*map(escape, (_when(e["at"]), e["kind"], e["actor"], e["summary"])))
    console.print(timeline)


@app.command("notifications")
def notifications(
    incident: str = typer.Argument(..., metavar="ID", help="42 or INC0000042."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Who was notified of an incident, how, and whether it got through."""
    with connect(url, token) as client:
        found = client.get("/notifications", incident=incident_id(incident), limit=500)
    if as_json:
        print(json.dumps(found["items"], indent=2))
        return
    if not found["items"]:
        console.print("no notifications for this incident")
        return
    table = Table("id", "when", "event", "to", "by", "status", "tries", "next try", "error")
    for d in reversed(found["items"]):
        to = d["recipient"] if d["recipient_kind"] == "user" else f"#{d['recipient']}"
        cells = (str(d["id"]), _when(d["created_at"]), d["event"], to, d["channel"], d["status"])
        rest = (str(d["attempts"]), _when(d["next_attempt_at"]), d["last_error"] or "")
        table.add_row(*map(escape, (*cells, *rest)))
    console.print(table)


def _act(client: ApiClient, incident: str, action: str, body: dict[str, Any]) -> Incident:
    """POST an action with the version just read (a concurrent change gives a clear 409)."""
    ident = incident_id(incident)
    current: Incident = client.get(f"/incidents/{ident}")
    result: Incident = client.post(
        f"/incidents/{ident}/{action}", {"version": current["version"], **body}
    )
    return result


def _report(incident: Incident) -> None:
    console.print(f"{incident['number']} is now {incident['state']}", soft_wrap=True)


@app.command("ack")
def ack(
    incident: str = typer.Argument(..., metavar="ID"),
    note: str = typer.Option("", "--note", help="What you are doing."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Acknowledge an incident: you are on it."""
    with connect(url, token) as client:
        _report(_act(client, incident, "ack", {"note": note}))


@app.command("resolve")
def resolve(
    incident: str = typer.Argument(..., metavar="ID"),
    note: str = typer.Option("", "--note", help="What fixed it."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Resolve an incident: the service is restored."""
    with connect(url, token) as client:
        _report(_act(client, incident, "resolve", {"note": note}))


@app.command("reopen")
def reopen(
    incident: str = typer.Argument(..., metavar="ID"),
    reason: str = typer.Option(..., "--reason", help="Why it is not over."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Reopen a resolved incident."""
    with connect(url, token) as client:
        _report(_act(client, incident, "reopen", {"reason": reason}))


@app.command("note")
def note(
    incident: str = typer.Argument(..., metavar="ID"),
    text: str = typer.Argument(..., help="The note."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Add a note to an incident's timeline."""
    with connect(url, token) as client:
        client.post(f"/incidents/{incident_id(incident)}/notes", {"text": text})
    console.print("note added")


@app.command("link-change")
def link_change(
    incident: str = typer.Argument(..., metavar="ID"),
    change: str = typer.Argument(..., metavar="CHANGE", help="42 or CHG0000042."),
    note: str = typer.Option("", "--note", help="Why they are linked."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Link a change to an incident (e.g. the one that caused it)."""
    with connect(url, token) as client:
        link = client.post(
            f"/incidents/{incident_id(incident)}/links", {"change": change, "note": note}
        )
    console.print(f"linked {link['ref']}")


@app.command("import-servicenow")
def import_servicenow(
    path: Path = typer.Argument(..., metavar="FILE", help="incident_event_log.csv(.gz)"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    chunk_size: int = typer.Option(2000, min=100, max=50_000, help="Incidents per commit."),
) -> None:
    """Import a ServiceNow incident export into this server's database (idempotent)."""
    if not path.is_file():
        raise InvalidInput(f"no file {path}")
    with database() as db, Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("importing incidents", total=None)
        result = servicenow_import.import_export(
            db,
            path=path,
            actor=cli_actor(),
            chunk_size=chunk_size,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if as_json:
        print(json.dumps(result, indent=2))
        return
    console.print(
        f"{result['incidents']:,} incidents from {result['rows']:,} rows in {result['seconds']} s: "
        f"{result['created']:,} created, {result['updated']:,} updated, "
        f"{result['unchanged']:,} unchanged; {result['events']:,} timeline events",
        soft_wrap=True,
    )
    skipped = result["skipped_rows"]
    for reason, count in skipped["by_reason"].items():
        console.print(f"  skipped {count} row(s): {escape(reason)}", soft_wrap=True)
    console.print(f"  SLA met: {result['sla_met_fraction']:.1%}", soft_wrap=True)
    for priority, hours in result["mttr_hours_by_priority"].items():
        console.print(f"  MTTR {priority}: {hours:.1f} h (mean)", soft_wrap=True)
