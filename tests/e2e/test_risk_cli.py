"""`flywheel risk` run as a user runs it (no database needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.risk.test_evaluation import write_csv

JSON_KEYS = {
    "auc",
    "f1",
    "precision",
    "recall",
    "recall_at_20pct_effort",
    "recall_at_5pct_gated",
    "recall_at_10pct_gated",
    "recall_at_20pct_gated",
    "n_train",
    "n_test",
    "ignored_columns",
    "missing_features",
}


def flywheel(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLYWHEEL_HOME": str(tmp_path / "home"), "FLYWHEEL_LOG_LEVEL": "warning"}
    return subprocess.run(
        [sys.executable, "-m", "flywheel", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("risk") / "changes.csv", 1000)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    text = " ".join(result.stderr.split())  # Rich may wrap a long line at the terminal width
    assert text.startswith("error: ")
    return text


def test_evaluate_prints_one_json_object(tmp_path: Path, data: Path) -> None:
    result = flywheel(
        tmp_path, "risk", "evaluate", "--data", str(data), "--time-split", "0.8", "--json"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert set(report) >= JSON_KEYS
    assert (report["n_train"], report["n_test"]) == (800, 200)
    assert report["auc"] > 0.65
    assert report["ignored_columns"] == ["author"] and report["missing_features"] == []


def test_evaluate_prints_a_table_for_people(tmp_path: Path, data: Path) -> None:
    result = flywheel(tmp_path, "risk", "evaluate", "--data", str(data))
    assert result.returncode == 0, result.stderr
    assert "ROC AUC" in result.stdout and "recall at 20 % effort" in result.stdout
    assert "ignored columns: author" in result.stdout


def test_bad_csv_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("_id,date,bug,la,ld\na,1,0,3,4\nb,2,1,lots,1\n")
    text = one_line_error(flywheel(tmp_path, "risk", "evaluate", "--data", str(bad), "--json"))
    assert text.endswith("line 3: column 'la' is not a number: 'lots'")


def test_missing_file_and_missing_label_are_clear(tmp_path: Path, data: Path) -> None:
    gone = one_line_error(flywheel(tmp_path, "risk", "evaluate", "--data", str(tmp_path / "x.csv")))
    assert gone.endswith("x.csv: file not found")
    unlabelled = one_line_error(
        flywheel(tmp_path, "risk", "evaluate", "--data", str(data), "--label", "failed")
    )
    assert "no label column 'failed'" in unlabelled


def test_features_outside_a_git_repository_is_a_clear_error(tmp_path: Path) -> None:
    result = flywheel(tmp_path, "risk", "features", "--repo", str(tmp_path), "--rev", "HEAD")
    assert "not a git repository" in one_line_error(result)
