"""`flywheel change`: open changes from a pipeline, wait for the decision, and work them.

These commands talk to a running Flywheel (`--url`/FLYWHEEL_URL, `--token`/FLYWHEEL_TOKEN).
Exit codes of `open`: 0 approved (scheduled, implement, review or closed) — and,
without --wait, also 0 when the change is pending (the message says so); 3 rejected or
cancelled; 4 still pending when --timeout passed; 1 bad input or an error from Flywheel.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from flywheel.change.lifecycle import APPROVED_STATES, ChangeType, CloseCode, State
from flywheel.cli.client import (
    DEFAULT_URL,
    ApiClient,
    TokenOption,
    Unavailable,
    UrlOption,
    change_id,
    connect,
    format_duration,
    parse_commit,
    parse_duration,
    parse_metrics,
    parse_time,
)
from flywheel.cli.common import console, err_console

app = typer.Typer(
    help="Change requests: open them from pipelines, wait for decisions, approve, implement.",
    no_args_is_help=True,
)

EXIT_APPROVED, EXIT_REJECTED, EXIT_TIMEOUT = 0, 3, 4
REFUSED_STATES = frozenset({State.REJECTED.value, State.CANCELLED.value})
_APPROVED = frozenset(s.value for s in APPROVED_STATES)
Change = dict[str, Any]


def verdict(change: Change) -> str:
    """approved, refused or pending."""
    if change["state"] in _APPROVED:
        return "approved"
    return "refused" if change["state"] in REFUSED_STATES else "pending"


def _needs(decision: dict[str, Any]) -> str:
    wanted = decision.get("approvals", [])
    return "; ".join(f"{a['count']} of {' | '.join(a['by'])}" for a in wanted)


def decision_summary(change: Change) -> str:
    """One line: what was decided, by which rule of which policy."""
    decision = change.get("decision") or {}
    if not decision:
        return "no decision yet"
    detail = _needs(decision) or decision.get("reject_reason") or ""
    rule = decision.get("decided_by", "?")
    source = "the policy's default" if rule == "default" else f"rule '{rule}'"
    policy = decision.get("policy") or {}
    where = f"policy {policy.get('scope', '?')} v{policy.get('version', '?')}"
    return f"{decision.get('outcome', '?')}{f' ({detail})' if detail else ''} by {source}, {where}"


def _risk(change: Change) -> str:
    score = change.get("risk_score")
    level = change.get("risk_level") or "unknown"
    return level if score is None else f"{level} ({score:.2f})"


def _obstacles(change: Change) -> list[str]:
    decision = change.get("decision") or {}
    lines = [f"blocked by {b['kind']} window '{b['window']}'" for b in decision.get("blockers", [])]
    conflicts = decision.get("conflicts", [])
    if conflicts:
        shown = ", ".join(sorted({c["change"] for c in conflicts})[:5])
        lines.append(f"conflicts with {len(conflicts)} other change(s): {shown}")
    warnings = [w for w in decision.get("warnings", []) if not w.startswith("conflicts with")]
    return lines + warnings[:5]


def print_outcome(change: Change, out: Console) -> None:
    """The change number, its state, risk and the decision, for a pipeline log."""
    word = {"approved": ": approved", "refused": "", "pending": ": pending approval"}
    out.print(f"{change['number']} {change['state']}{word[verdict(change)]}", soft_wrap=True)
    out.print(f"  risk: {_risk(change)}", soft_wrap=True)
    out.print(f"  decision: {escape(decision_summary(change))}", soft_wrap=True)
    given = ", ".join(f"{a['username']} ({a['verdict']})" for a in change.get("approvals", []))
    if given:
        out.print(f"  approvals: {escape(given)}", soft_wrap=True)
    for line in _obstacles(change):
        out.print(f"  {escape(line)}", soft_wrap=True)


def _open_body(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v not in (None, [], {})}


def _open_key(body: dict[str, Any]) -> str | None:
    """A stable Idempotency-Key for a pipeline run (its external id), None without one."""
    if "external_id" not in body:
        return None
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return f"flywheel-cli:change-open:{digest[:48]}"


def open_change(client: ApiClient, body: dict[str, Any]) -> Change:
    """Open (or, for a retried run, find again) a change; always its current state."""
    change: Change = client.post("/changes", body, idempotency_key=_open_key(body))
    if client.last_replayed:
        change = client.get(f"/changes/{change['id']}")
    return change


def wait_for_decision(
    client: ApiClient, change: Change, *, timeout: timedelta, poll: timedelta, out: Console
) -> Change:
    """Poll until the change is approved or refused, or the timeout passes."""
    deadline = time.monotonic() + timeout.total_seconds()
    while verdict(change) == "pending":
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(poll.total_seconds(), remaining))
        try:
            latest: Change = client.get(f"/changes/{change['id']}")
        except Unavailable as exc:
            out.print(f"  still waiting ({escape(exc.message)})", soft_wrap=True)
            continue
        if latest["state"] != change["state"]:
            out.print(f"  {latest['number']} is now {latest['state']}", soft_wrap=True)
        change = latest
    return change


def finish(change: Change, *, waited: timedelta | None, out: Console, as_json: bool) -> None:
    """Report the outcome and exit with the pipeline's code (0, 3 or 4)."""
    if as_json:
        print(json.dumps(change, indent=2))
    state, number = verdict(change), change["number"]
    if state == "refused":
        raise typer.Exit(EXIT_REJECTED)
    if state == "pending":
        needs = _needs(change.get("decision") or {}) or "a decision"
        after = f"after {format_duration(waited)}" if waited is not None else "(not waiting)"
        out.print(
            f"{number} is still pending {after}: it needs {escape(needs)}; "
            f"check with `flywheel change show {number}`",
            soft_wrap=True,
        )
        if waited is not None:
            raise typer.Exit(EXIT_TIMEOUT)


OPEN_EXIT_CODES = (
    "Exit codes: 0 approved (scheduled, implement, review, closed) — also 0 without --wait "
    "when the change is pending (the output says so); 3 rejected or cancelled; 4 still "
    "pending when --timeout passed; 1 bad input, unreachable server or API error; 2 usage."
)


@app.command("open", epilog=OPEN_EXIT_CODES)
def open_command(
    service: str = typer.Option(..., "--service", help="The service CI the change deploys."),
    version: str = typer.Option(..., "--version", help="The version or artifact deployed."),
    commit: list[str] = typer.Option([], "--commit", help="SHA or SHA:AUTHOR; repeat."),
    title: str | None = typer.Option(None, help="Default: 'Deploy SERVICE VERSION'."),
    change_type: ChangeType = typer.Option(ChangeType.NORMAL, "--type", help="Change type."),
    ci: list[str] = typer.Option([], "--ci", help="Another CI the change touches; repeat."),
    external_id: str | None = typer.Option(
        None, "--external-id", help="The pipeline run's id: a retried run gets the same change."
    ),
    metrics: list[str] = typer.Option([], "--metrics", help="Code metrics: la=120,ld=30,nf=4."),
    metric: list[str] = typer.Option([], "--metric", help="One code metric NAME=NUMBER; repeat."),
    planned_start: str | None = typer.Option(None, help="ISO 8601 time (UTC if no zone)."),
    planned_end: str | None = typer.Option(None, help="ISO 8601 time (UTC if no zone)."),
    receipt: bool = typer.Option(False, "--receipt", help="Record a change already done."),
    wait: bool = typer.Option(False, "--wait", help="Wait until approved or refused."),
    timeout: str = typer.Option("30m", help="With --wait: give up after this long (exit 4)."),
    poll: str = typer.Option("2s", help="With --wait: how often to ask."),
    as_json: bool = typer.Option(False, "--json", help="Print the change as JSON on stdout."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Open a change for a deployment; exit 0 approved, 3 rejected, 4 still pending at timeout."""
    limit, every = parse_duration(timeout), parse_duration(poll)
    body = _open_body(
        type=change_type.value,
        service=service,
        title=title or f"Deploy {service} {version}",
        version=version,
        cis=ci,
        commits=[parse_commit(c) for c in commit],
        code_metrics=parse_metrics([*metrics, *metric]),
        external_id=external_id,
        receipt=receipt or None,
        planned_start=planned_start and parse_time(planned_start, "--planned-start").isoformat(),
        planned_end=planned_end and parse_time(planned_end, "--planned-end").isoformat(),
    )
    out = err_console if as_json else console
    with connect(url, token) as client:
        change = open_change(client, body)
        print_outcome(change, out)
        if wait and verdict(change) == "pending":
            out.print(f"waiting up to {format_duration(limit)} for a decision…", soft_wrap=True)
            change = wait_for_decision(client, change, timeout=limit, poll=every, out=out)
            if verdict(change) != "pending":
                print_outcome(change, out)
    finish(change, waited=limit if wait else None, out=out, as_json=as_json)


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _span(start: str | None, end: str | None) -> str:
    return f"{_when(start)} → {_when(end)}" if start or end else "unplanned (now + 1h)"


def _details(change: Change) -> Table:
    grid = Table.grid(padding=(0, 2))
    rows = {
        "change": f"{change['number']} ({change['type']})",
        "title": change["title"],
        "state": f"{change['state']} ({verdict(change)})",
        "service": change["service"],
        "cis": ", ".join(change["cis"]),
        "version": change.get("version") or "",
        "requested by": change["requested_by"],
        "external id": change.get("external_id") or "",
        "planned": _span(change["planned_start"], change["planned_end"]),
        "risk": _risk(change),
        "decision": decision_summary(change),
        "commits": ", ".join(c["sha"][:12] for c in change["commits"]),
        "close code": change.get("close_code") or "",
    }
    for label, value in rows.items():
        grid.add_row(f"[bold]{label}[/]", escape(str(value)))
    return grid


@app.command("show")
def show(
    change: str = typer.Argument(..., metavar="ID", help="42 or CHG0000042."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """A change's details, approvals and timeline."""
    ident = change_id(change)
    with connect(url, token) as client:
        found: Change = client.get(f"/changes/{ident}")
        steps: list[dict[str, Any]] = client.get(f"/changes/{ident}/timeline")
    if as_json:
        print(json.dumps({**found, "timeline": steps}, indent=2))
        return
    console.print(_details(found))
    for line in _obstacles(found):
        console.print(f"  {escape(line)}", soft_wrap=True)
    approvals = Table("who", "verdict", "as", "when", "comment", title="approvals")
    for a in found["approvals"]:
        cells = (a["username"], a["verdict"], a["as_role"] or "", _when(a["created_at"]))
        approvals.add_row(*map(escape, (*cells, a["comment"])))
    console.print(approvals if found["approvals"] else "no approvals yet")
    timeline = Table("when", "from", "to", "by", "reason", title="timeline")
    for s in steps:
        cells = (_when(s["at"]), s["from_state"] or "", s["to_state"], s["actor"])
        timeline.add_row(*map(escape, (*cells, s["reason"] or "")))
    console.print(timeline)


@app.command("list")
def list_command(
    service: str | None = typer.Option(None, "--service", help="Only this service."),
    state: State | None = typer.Option(None, "--state", help="Only changes in this state."),
    limit: int = typer.Option(100, min=1, max=500, help="At most this many (oldest first)."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """List changes, oldest first."""
    with connect(url, token) as client:
        page = client.get(
            "/changes", service=service, state=state.value if state else None, limit=limit
        )
    fixed = [Column(name, no_wrap=True) for name in ("change", "state", "service", "risk")]
    table = Table(*fixed, "title", Column("created", no_wrap=True))
    for c in page["items"]:
        cells = (c["number"], c["state"], c["service"], c.get("risk_level") or "", c["title"])
        table.add_row(*map(escape, cells), _when(c["created_at"]))
    console.print(table if page["items"] else "no changes")
    if page.get("next_cursor"):
        console.print(f"(first {limit}; raise --limit for more)")


def _act(url: str, token: str | None, change: str, action: str, body: Any = None) -> Change:
    with connect(url, token) as client:
        result: Change = client.post(f"/changes/{change_id(change)}/{action}", body)
    return result


def _report(change: Change, done: str) -> None:
    console.print(f"{change['number']} {done}: now {change['state']}", soft_wrap=True)
    if verdict(change) == "pending" and change["state"] != State.NEW.value:
        needs = _needs(change.get("decision") or {})
        console.print(f"  still waiting for approvals ({escape(needs)})", soft_wrap=True)


@app.command("approve")
def approve(
    change: str = typer.Argument(..., metavar="ID"),
    comment: str = typer.Option("", "--comment", help="Why you approve."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Approve a change awaiting approval (never one you requested or authored)."""
    _report(_act(url, token, change, "approve", {"comment": comment}), "approval recorded")


@app.command("reject")
def reject(
    change: str = typer.Argument(..., metavar="ID"),
    reason: str = typer.Option(..., "--reason", help="Why (the requester sees it)."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Reject a change awaiting approval."""
    _report(_act(url, token, change, "reject", {"reason": reason}), "rejected")


@app.command("cancel")
def cancel(
    change: str = typer.Argument(..., metavar="ID"),
    reason: str = typer.Option(..., "--reason", help="Why it is withdrawn."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Withdraw a change that has not started."""
    _report(_act(url, token, change, "cancel", {"reason": reason}), "cancelled")


@app.command("start")
def start(
    change: str = typer.Argument(..., metavar="ID"),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Begin implementing a scheduled change (blackouts and conflicts are checked again)."""
    _report(_act(url, token, change, "start"), "started")


@app.command("complete")
def complete(
    change: str = typer.Argument(..., metavar="ID"),
    code: CloseCode = typer.Option(..., "--code", help="How the implementation ended."),
    notes: str = typer.Option("", "--notes", help="What happened."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Record how the implementation ended (normal and emergency changes go to review)."""
    body = {"close_code": code.value, "notes": notes}
    _report(_act(url, token, change, "complete", body), "completed")


@app.command("close")
def close(
    change: str = typer.Argument(..., metavar="ID"),
    comment: str = typer.Option("", "--comment", help="The review's conclusion."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Close a change after its post-implementation review."""
    _report(_act(url, token, change, "close", {"comment": comment}), "closed")


@app.command("calendar")
def calendar(
    start_at: str | None = typer.Option(None, "--from", help="ISO 8601 time; default now."),
    end_at: str | None = typer.Option(None, "--to", help="ISO 8601 time; default 14 days on."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Changes and window occurrences in a period (default: the next 14 days)."""
    begin = parse_time(start_at, "--from") if start_at else datetime.now(UTC)
    end = parse_time(end_at, "--to") if end_at else begin + timedelta(days=14)
    with connect(url, token) as client:
        entries = client.get(
            "/changes/calendar", **{"from": begin.isoformat(), "to": end.isoformat()}
        )
    table = Table("start", "end", "kind", "title", "change", "state", title="change calendar")
    for e in entries:
        cells = (_when(e["start"]), _when(e["end"]), e["kind"], e["title"])
        table.add_row(*map(escape, (*cells, e.get("change") or "", e.get("state") or "")))
    span = f"{_when(begin.isoformat())} and {_when(end.isoformat())}"
    console.print(table if entries else f"nothing planned between {span}")
