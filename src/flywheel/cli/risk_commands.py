"""`flywheel risk`: evaluate the change risk model on labelled changes; change metrics from git."""

from __future__ import annotations

import csv
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer
from rich.markup import escape
from rich.table import Table

from flywheel.cli.common import console, err_console
from flywheel.errors import InvalidInput

if TYPE_CHECKING:  # scikit-learn loads only when a risk command runs (it is slow to import)
    from flywheel.risk.evaluation import Evaluation

app = typer.Typer(help="Change risk: model evaluation and change metrics.", no_args_is_help=True)

MetricsFn = Callable[[str | Path, str], Sequence[dict[str, object]]]
GIT_FEATURES = "flywheel.risk.git_features"
DEFAULT_BUDGET = 0.2  # as flywheel.risk.evaluation.DEFAULT_BUDGET


class OutputFormat(StrEnum):
    """How `features` prints its rows."""

    CSV = "csv"
    JSON = "json"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _table(result: Evaluation) -> Table:
    table = Table(title=f"Change risk model — {escape(result.split)}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("ROC AUC", f"{result.auc:.4f}"),
        (f"threshold (gates {result.budget:.0%} of training changes)", f"{result.threshold:.4f}"),
        ("share of test changes gated", _percent(result.gated_share)),
        ("precision at threshold", f"{result.precision:.4f}"),
        ("recall at threshold", f"{result.recall:.4f}"),
        ("F1 at threshold", f"{result.f1:.4f}"),
        ("recall at 20 % effort (la+ld)", _percent(result.recall_at_20pct_effort)),
        ("recall, riskiest 5 % gated", _percent(result.recall_at_5pct_gated)),
        ("recall, riskiest 10 % gated", _percent(result.recall_at_10pct_gated)),
        ("recall, riskiest 20 % gated", _percent(result.recall_at_20pct_gated)),
        ("Brier score (base rate)", f"{result.brier:.4f} ({result.brier_base_rate:.4f})"),
        ("training / test changes", f"{result.n_train:,} / {result.n_test:,}"),
        ("failing test changes", f"{result.n_test_failing:,} ({result.test_failure_rate:.1%})"),
        ("mean predicted probability", _percent(result.mean_probability)),
        ("training time", f"{result.training_seconds:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _notes(result: Evaluation) -> list[str]:
    notes = [f"model {result.model_version} on {', '.join(result.features)}"]
    if result.ignored_columns:
        notes.append(f"ignored columns: {', '.join(result.ignored_columns)}")
    if result.missing_features:
        notes.append(f"missing metrics (not used): {', '.join(result.missing_features)}")
    if result.recall_at_20pct_effort is None:
        notes.append("no la/ld columns: recall at 20 % effort is not available")
    return notes


@app.command("evaluate")
def evaluate_command(
    data: Path = typer.Option(..., "--data", help="CSV of labelled changes (metric columns)."),
    test: Path | None = typer.Option(
        None, "--test", help="CSV of test changes; data rows with the same _id are left out."
    ),
    time_split: float | None = typer.Option(
        None, "--time-split", help="Train on this first share in time order (default 0.8)."
    ),
    label: str = typer.Option("bug", "--label", help="Label column: 1 = the change failed."),
    budget: float = typer.Option(
        DEFAULT_BUDGET, "--budget", help="Share of training changes the threshold gates."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Train on the training part, score the test part, print the held-out metrics."""
    from flywheel.risk.evaluation import evaluate

    with err_console.status("training and scoring…"):
        result = evaluate(data, test=test, time_fraction=time_split, label=label, budget=budget)
    if as_json:
        print(json.dumps(result.as_dict()))
        return
    console.print(_table(result))
    for note in _notes(result):
        console.print(f"[dim]{escape(note)}[/]")


def _change_metrics() -> MetricsFn:
    try:
        module = importlib.import_module(GIT_FEATURES)
    except ModuleNotFoundError as exc:
        if exc.name != GIT_FEATURES:
            missing = f"change metrics need a package that is not installed: {exc.name}"
            raise InvalidInput(missing) from exc
        raise InvalidInput(
            "change metrics from git are not available in this installation"
        ) from None
    return cast(MetricsFn, module.change_metrics)


@app.command("features")
def features_command(
    repo: Path = typer.Option(..., "--repo", help="A local git repository."),
    rev: str = typer.Option(..., "--rev", help="A commit or a range A..B."),
    fmt: OutputFormat = typer.Option(OutputFormat.CSV, "--format", help="csv or json."),
) -> None:
    """Print the 14 Kamei change metrics of each commit in a revision range."""
    rows = list(_change_metrics()(repo, rev))
    if fmt is OutputFormat.JSON:
        print(json.dumps(rows, default=str))
        return
    fields = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
