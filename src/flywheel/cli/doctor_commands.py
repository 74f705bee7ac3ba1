"""`flywheel doctor`: is this installation healthy, and if not, what to do."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.markup import escape
from rich.table import Table

from flywheel.cli.common import console, settings
from flywheel.ops.doctor import examine

_STYLE = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}


def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    skip_audit: bool = typer.Option(
        False, "--skip-audit", help="Don't verify the whole audit chain (large installs)."
    ),
) -> None:
    """Check configuration, database, schema, audit chain, workers, load balancers, Prometheus."""
    findings = examine(settings(), verify_audit=not skip_audit)
    failed = any(f.status == "fail" for f in findings)
    if as_json:
        console.print_json(
            json.dumps({"ok": not failed, "findings": [asdict(f) for f in findings]})
        )
    else:
        table = Table("check", "status", "what was seen", "what to do")
        for f in findings:
            table.add_row(f.check, _STYLE[f.status], escape(f.detail), escape(f.fix))
        console.print(table)
    if failed:
        raise typer.Exit(1)
