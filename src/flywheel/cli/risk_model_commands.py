"""`flywheel risk train|models|promote`: the stored models, on the server's database."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import typer
from rich.table import Table

from flywheel.change import service as change_service
from flywheel.cli.common import cli_actor, console, database, write_session
from flywheel.cli.risk_commands import app
from flywheel.db import utcnow
from flywheel.risk import service

Training = tuple[list[dict[str, object]], list[int], list[float] | None, str]


def _train_from_file(path: Path, label: str) -> Training:
    from flywheel.risk.dataset import read_changes

    table = read_changes(path, label=label)
    rows: list[dict[str, object]] = [
        {m: (None if math.isnan(v) else float(v)) for m, v in zip(table.metrics, r, strict=True)}
        for r in table.x
    ]
    dates = [float(d) for d in table.dates] if table.dates is not None else None
    return rows, [int(y) for y in table.labels], dates, f"file {path.name}"


@app.command("train")
def train_command(
    data: Path | None = typer.Option(
        None, "--data", help="CSV of labelled changes (default: Flywheel's own)."
    ),
    label: str = typer.Option("bug", help="Label column of --data."),
    months: int = typer.Option(12, min=1, help="With Flywheel's own changes: how far back."),
) -> None:
    """Train a candidate model and store it (promote it to put it in service)."""
    with write_session() as session:
        rows: list[dict[str, object]]
        dates: list[float] | None
        if data is not None:
            rows, labels, dates, source = _train_from_file(data, label)
        else:
            since = utcnow() - timedelta(days=30 * months)
            history = change_service.labelled_history(session, since=since)
            rows, labels = [dict(m) for m, _, _ in history], [y for _, y, _ in history]
            dates, source = [t for _, _, t in history], f"flywheel changes, last {months} months"
        row = service.train_and_store(
            session, actor=cli_actor(), rows=rows, labels=labels, dates=dates, source=source
        )
        session.commit()
        metrics = row.model_metadata.get("metrics") or {}
    console.print(f"trained candidate [bold]{row.version}[/] from {source}")
    console.print(
        f"held-out AUC {metrics.get('holdout_auc')}, Brier {metrics.get('holdout_brier')}"
    )
    console.print(f"put it in service with: flywheel risk promote {row.version}")


@app.command("models")
def models_command() -> None:
    """List stored models with their held-out metrics."""
    table = Table("version", "status", "source", "train n", "held-out AUC", "created")
    with database() as db, db.session() as session:
        for row in service.list_models(session):
            meta = row.model_metadata
            metrics = meta.get("metrics") or {}
            table.add_row(
                row.version,
                row.status,
                row.source,
                str(meta.get("n_train", "")),
                str(metrics.get("holdout_auc", "")),
                f"{row.created_at:%Y-%m-%d %H:%M}",
            )
    console.print(table)


@app.command("promote")
def promote_command(
    version: str,
    force: bool = typer.Option(False, help="Promote even if worse than the model in service."),
) -> None:
    """Put a model in service (refused if it is worse than the current one on held-out data)."""
    with write_session() as session:
        row = service.promote(session, actor=cli_actor(), version=version, force=force)
        session.commit()
    console.print(f"model [bold]{row.version}[/] is in service")
