"""`flywheel audit`: verify and export the audit trail."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import typer

from flywheel.audit import service
from flywheel.audit.schemas import AuditEventOut
from flywheel.cli.common import console, database, err_console
from flywheel.db import as_utc

app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)


class ExportFormat(StrEnum):
    """Export file formats."""

    JSONL = "jsonl"
    CSV = "csv"


@app.command("verify")
def verify() -> None:
    """Recompute the chain; exit 1 naming the first bad event if it was tampered with."""
    with database() as db, db.session() as session:
        report = service.verify_chain(session)
    if report.first_break is not None:
        err_console.print(f"[red]audit chain BROKEN[/] at {report.first_break}")
        raise typer.Exit(1)
    console.print(f"audit chain intact: {report.events_checked} events, head #{report.head_seq}")


def _rows(since: datetime | None, until: datetime | None) -> Any:
    flt = service.AuditFilter(since=as_utc(since), until=as_utc(until))
    with database() as db, db.session() as session:
        for event in service.iter_events(session, flt=flt):
            yield AuditEventOut.model_validate(event).model_dump(mode="json")


def _write(rows: Any, fmt: ExportFormat, out: IO[str]) -> int:
    count = 0
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        if fmt is ExportFormat.JSONL:
            out.write(json.dumps(row, sort_keys=True) + "\n")
        else:
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row))
                writer.writeheader()
            flat = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()}
            writer.writerow(flat)
        count += 1
    return count


@app.command("export")
def export(
    since: datetime | None = typer.Option(None, help="From this time (UTC unless given)."),
    until: datetime | None = typer.Option(None, help="Up to this time (exclusive)."),
    fmt: ExportFormat = typer.Option(ExportFormat.JSONL, "--format", "-f"),
    output: Path | None = typer.Option(None, "--output", "-o", help="File; default stdout."),
) -> None:
    """Export events in chain order, with their hashes, for auditors."""
    if output is None:
        count = _write(_rows(since, until), fmt, sys.stdout)
    else:
        with output.open("w", newline="") as out:
            count = _write(_rows(since, until), fmt, out)
    err_console.print(f"exported {count} events")
