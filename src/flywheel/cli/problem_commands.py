"""`flywheel problem` and `flywheel known-error`: problem management over the API."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from flywheel.cli.client import DEFAULT_URL, ApiClient, TokenOption, UrlOption, connect
from flywheel.cli.common import console
from flywheel.errors import InvalidInput
from flywheel.problem.lifecycle import Resolution, RootCauseCategory
from flywheel.problem.refs import parse

app = typer.Typer(help="Problems: suggest, create, analyse, route, close.", no_args_is_help=True)
known_error_app = typer.Typer(help="Known errors and their workarounds.", no_args_is_help=True)
Problem = dict[str, Any]
JsonOption = typer.Option(False, "--json", help="Print as JSON.")
CATEGORIES = ", ".join(c.value for c in RootCauseCategory)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _problems_table(items: list[Problem]) -> Table:
    table = Table("problem", "state", "category", "service", "title", "reopened")
    for p in items:
        cells = (p["number"], p["state"], p["category"] or "", p["service"], p["title"])
        table.add_row(*map(escape, cells), str(p["reopen_count"]))
    return table


@app.command("list")
def list_command(
    state: str = typer.Option("open", help="open, new, investigating, …, closed, all."),
    as_json: bool = JsonOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Problems, newest first (open ones by default)."""
    with connect(url, token) as client:
        page = client.get("/problems", state=None if state == "all" else state)
    if as_json:
        _print_json(page)
        return
    console.print(_problems_table(page["items"]) if page["items"] else "no problems")


@app.command("suggest")
def suggest(
    period_days: float = typer.Option(14, min=0.01, help="Incidents recurring within this."),
    min_incidents: int = typer.Option(3, min=2, help="At least this many."),
    as_json: bool = JsonOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Look for recurring incidents and list the open suggestions with their evidence."""
    body = {"period_days": period_days, "min_incidents": min_incidents}
    with connect(url, token) as client:
        made = client.post("/problems/suggestions", body)
        listed = client.get("/problems/suggestions")
    if as_json:
        _print_json(listed)
        return
    console.print(f"{len(made)} new suggestion(s); {len(listed)} open")
    table = Table("id", "basis", "incidents", "why")
    for s in listed[:50]:
        table.add_row(
            str(s["id"]), s["basis"], str(len(s["incident_ids"])), escape(s["evidence"]["why"])
        )
    if listed:
        console.print(table)
        console.print("accept with `flywheel problem accept ID`, dismiss with `… dismiss ID`")


@app.command("accept")
def accept(
    suggestion: int = typer.Argument(..., help="The suggestion's id."),
    title: str | None = typer.Option(None, help="The problem's title."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Accept a suggestion: it becomes a problem."""
    with connect(url, token) as client:
        made = client.post(f"/problems/suggestions/{suggestion}/accept", {"title": title})
    console.print(f"{made['number']} opened: {escape(made['title'])}")


@app.command("dismiss")
def dismiss(
    suggestion: int = typer.Argument(..., help="The suggestion's id."),
    reason: str = typer.Option("", help="Why it is not a problem."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Dismiss a suggestion (it is not suggested again)."""
    with connect(url, token) as client:
        client.post(f"/problems/suggestions/{suggestion}/dismiss", {"reason": reason})
    console.print(f"suggestion {suggestion} dismissed")


@app.command("create")
def create(
    title: str = typer.Argument(..., help="What goes wrong."),
    incident: list[str] = typer.Option([], "--incident", "-i", help="42 or INC0000042 (repeat)."),
    service: str | None = typer.Option(None, help="Needed when no incident is given."),
    description: str = typer.Option("", help="More detail."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Open a problem from incidents."""
    body = {"title": title, "incidents": incident, "service": service, "description": description}
    with connect(url, token) as client:
        made = client.post("/problems", body)
    console.print(f"{made['number']} opened on {escape(made['service'])}")


@app.command("show")
def show(
    problem: str = typer.Argument(..., metavar="ID", help="42 or PRB0000042."),
    as_json: bool = JsonOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """A problem with its analysis, incidents, fixes, changes and timeline."""
    with connect(url, token) as client:
        found = client.get(f"/problems/{parse(problem, 'problem')}")
    if as_json:
        _print_json(found)
        return
    console.print(_problems_table([found]))
    if found["root_cause"]:
        console.print(f"[bold]root cause[/] ({found['category']}): {escape(found['root_cause'])}")
    for n, why in enumerate(found["five_whys"], 1):
        console.print(f"  why {n}: {escape(why)}")
    for factor in found["contributing_factors"]:
        console.print(f"  factor: {escape(factor)}")
    for i in found["incidents"]:
        console.print(f"incident {i['number']} ({i['state']}, {i['reason']}): {escape(i['title'])}")
    for f in found["fixes"]:
        ref = f["change_number"] or f["tracker"] or f["owner"] or ""
        console.print(
            f"fix {f['id']} {f['route']} [{f['state']}] {escape(f['title'])} {escape(ref)}"
        )
    for c in found["changes"]:
        console.print(f"change {c['change_number']} ({c['state']}, named in its {c['found_in']})")
    timeline = Table("when", "what", "who", "incident", "summary", title="timeline")
    for e in found["timeline"][-40:]:
        cells = (e["at"][:16], e["kind"], e["actor"], e["incident"] or "", e["summary"])
        timeline.add_row(*map(escape, cells))
    console.print(timeline)


def _version(client: ApiClient, problem_id: int) -> int:
    return int(client.get(f"/problems/{problem_id}")["version"])


@app.command("rca")
def rca(
    problem: str = typer.Argument(..., metavar="ID"),
    why: list[str] = typer.Option([], "--why", help="One of the five whys, in order (repeat)."),
    factor: list[str] = typer.Option([], "--factor", help="A contributing factor (repeat)."),
    root_cause: str | None = typer.Option(None, "--root-cause", help="The root cause."),
    category: str | None = typer.Option(None, help=f"One of: {CATEGORIES}."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Record the root-cause analysis (options left out keep their value)."""
    if category is not None and category not in {c.value for c in RootCauseCategory}:
        raise InvalidInput(f"--category '{category}' must be one of: {CATEGORIES}")
    ident = parse(problem, "problem")
    body: dict[str, Any] = {"root_cause": root_cause, "category": category}
    body |= {"five_whys": why or None, "contributing_factors": factor or None}
    with connect(url, token) as client:
        body["version"] = _version(client, ident)
        done = client.put(
            f"/problems/{ident}/rca", {k: v for k, v in body.items() if v is not None}
        )
    console.print(f"{done['number']} analysis recorded ({done['state']})")


@app.command("route")
def route(
    problem: str = typer.Argument(..., metavar="ID"),
    tracker: str | None = typer.Option(None, help="Software: the team's tracker."),
    owner: str | None = typer.Option(None, help="Task: who does it."),
    due: str | None = typer.Option(None, help="Task: due date, YYYY-MM-DD."),
    title: str | None = typer.Option(None, help="The follow-up's title."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Route the fix by root-cause category: backlog item, change request, or task."""
    if due is not None:
        try:
            date.fromisoformat(due)
        except ValueError as exc:
            raise InvalidInput(f"--due '{due}' is not a date (YYYY-MM-DD)") from exc
    ident = parse(problem, "problem")
    body: dict[str, Any] = {"tracker": tracker, "owner": owner, "due_date": due, "title": title}
    with connect(url, token) as client:
        body["version"] = _version(client, ident)
        fix = client.post(f"/problems/{ident}/route", {k: v for k, v in body.items() if v})
    where = fix["change_number"] or fix["tracker"] or fix["owner"]
    console.print(f"fix {fix['id']} routed: {fix['route']} → {escape(str(where))}")


@app.command("close")
def close(
    problem: str = typer.Argument(..., metavar="ID"),
    resolution: str = typer.Option(..., help="fixed, duplicate, risk_accepted or cancelled."),
    note: str = typer.Option("", help="Why."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Close a problem (an open fix must be finished or cancelled first)."""
    if resolution not in {r.value for r in Resolution}:
        raise InvalidInput(f"--resolution '{resolution}' must be one of {', '.join(Resolution)}")
    ident = parse(problem, "problem")
    with connect(url, token) as client:
        body = {"version": _version(client, ident), "resolution": resolution, "note": note}
        done = client.post(f"/problems/{ident}/close", body)
    console.print(f"{done['number']} closed ({done['resolution']})")


@app.command("verify")
def verify(url: UrlOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """Send due backlog items, link fixing changes, resolve and close problems now."""
    with connect(url, token) as client:
        done = client.post("/problems/verify")
    _print_json(done)


@known_error_app.command("list")
def known_error_list(
    service: str | None = typer.Option(None, help="Only this service."),
    as_json: bool = JsonOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Active known errors with their workarounds."""
    with connect(url, token) as client:
        found = client.get("/known-errors", service=service)
    if as_json:
        _print_json(found)
        return
    table = Table("known error", "service", "title", "workaround", "matched")
    for k in found:
        cells = (k["number"], k["service"] or "", k["title"], k["workaround"])
        table.add_row(*map(escape, cells), str(k["matched_count"]))
    console.print(table if found else "no known errors")


@known_error_app.command("match")
def known_error_match(
    incident: str = typer.Argument(..., metavar="INCIDENT", help="42 or INC0000042."),
    as_json: bool = JsonOption,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Which known error an incident matches, and its workaround."""
    with connect(url, token) as client:
        found = client.get("/known-errors/match", incident=incident)
    if as_json:
        _print_json(found)
        return
    known = found["known_error"]
    if known is None:
        console.print("no known error matches")
        return
    chain = " → ".join(found["followed"])
    console.print(f"{known['number']}: {escape(known['title'])} (via {chain})")
    console.print(f"workaround: {escape(known['workaround'])}")
