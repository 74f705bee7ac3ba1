"""`flywheel backup` and `flywheel restore`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from flywheel.cli.common import cli_actor, console, settings
from flywheel.ops import service


def backup(
    file: Path = typer.Argument(..., help="Where to write the snapshot (a manifest goes beside)."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Write a consistent snapshot of the database, with the audit chain verified in it."""
    manifest = service.backup(settings(), file)
    if as_json:
        console.print_json(json.dumps(asdict(manifest)))
        return
    chain = manifest.audit
    state = "intact" if chain.intact else f"[red]BROKEN[/] ({chain.first_break})"
    console.print(
        f"backup written to [bold]{file}[/] ({manifest.format}, {manifest.size_bytes:,} bytes, "
        f"schema {manifest.revision}); audit chain {state}: {chain.events:,} events, "
        f"head #{chain.head_seq}"
    )


def restore(
    file: Path = typer.Argument(..., help="A snapshot written by `flywheel backup`."),
    force: bool = typer.Option(False, "--force", help="Replace an existing database."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Restore a backup (Flywheel must be stopped), upgrade it, and verify its audit chain."""
    report = service.restore(settings(), file, actor=cli_actor(), force=force)
    if as_json:
        console.print_json(json.dumps(asdict(report)))
        return
    upgraded = (
        f", schema upgraded {report.revision_before_upgrade} → {report.revision}"
        if report.revision_before_upgrade != report.revision
        else f", schema {report.revision}"
    )
    console.print(
        f"restored {file}{upgraded}; audit chain intact: {report.audit.events:,} events, "
        f"head #{report.audit.head_seq}"
    )
