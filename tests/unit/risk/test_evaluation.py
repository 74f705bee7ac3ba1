"""Evaluating the risk model from CSV files: splits, metrics, reporting, and bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from flywheel.errors import InvalidInput
from flywheel.risk.dataset import read_changes
from flywheel.risk.evaluation import (
    evaluate,
    explicit_split,
    recall_at_effort,
    recall_at_gated,
    time_split,
)
from tests.unit.risk.test_model import synthetic_changes

HEADER = ["", "_id", "date", "bug", "__", "ns", "nd", "nf", "entrophy", "la", "ld", "lt", "fix"]
HEADER += ["ndev", "age", "nuc", "exp", "rexp", "sexp", "author"]


def write_csv(path: Path, n: int, *, seed: int = 1, drop: tuple[str, ...] = ()) -> Path:
    """A data set like the published ones (index, `__`, `entrophy`) plus an `author` column."""
    rows, labels, dates = synthetic_changes(n, seed=seed)
    header = [h for h in HEADER if h not in drop]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, (row, label, date) in enumerate(zip(rows, labels, dates, strict=True)):
            cells = {"": i, "_id": f"c{i:05d}", "date": int(date), "bug": label, "__": 0}
            cells |= {"entrophy": row["entropy"], "author": "dev"}
            writer.writerow([cells.get(h, row.get(h)) for h in header])
    return path


def test_time_split_evaluation_reports_every_metric(tmp_path: Path) -> None:
    result = evaluate(write_csv(tmp_path / "changes.csv", 1500), time_fraction=0.8)
    assert (result.n_train, result.n_test) == (1200, 300)
    assert result.auc > 0.7
    assert result.ignored_columns == ["author"] and result.missing_features == []
    assert result.split == "time split 0.8 by date"
    assert result.recall_at_20pct_effort is not None and 0 < result.recall_at_20pct_effort <= 1
    for value in (result.f1, result.precision, result.recall, result.recall_at_5pct_gated):
        assert 0.0 < value <= 1.0
    assert result.recall_at_5pct_gated <= result.recall_at_10pct_gated
    assert result.recall_at_10pct_gated <= result.recall_at_20pct_gated
    assert result.gated_share == pytest.approx(0.2, abs=0.08)
    assert result.brier < result.brier_base_rate
    assert result.as_dict()["auc"] == round(result.auc, 4)


def test_time_split_follows_dates_not_file_order(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "changes.csv", 200)
    lines = path.read_text().splitlines()
    body = lines[1:]
    np.random.default_rng(3).shuffle(body)
    path.write_text("\n".join([lines[0], *body]) + "\n")
    split = time_split(read_changes(path), 0.75)
    assert split.train.dates is not None and split.test.dates is not None
    assert split.train.dates.max() < split.test.dates.min()
    assert (len(split.train), len(split.test)) == (150, 50)


def test_without_dates_the_file_order_is_time_order(tmp_path: Path) -> None:
    table = read_changes(write_csv(tmp_path / "changes.csv", 100, drop=("date",)))
    split = time_split(table, 0.8)
    assert split.how == "time split 0.8 in file order"
    assert split.test.ids is not None and split.test.ids[0] == "c00080"


def test_explicit_test_file_trains_on_the_other_rows(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "all.csv", 1000)
    lines = data.read_text().splitlines()
    test = tmp_path / "test.csv"
    test.write_text("\n".join([lines[0], *lines[-250:]]) + "\n")
    result = evaluate(data, test=test)
    assert (result.n_train, result.n_test) == (750, 250)
    assert result.split == f"explicit test file {test}"
    overlap = explicit_split(read_changes(data), read_changes(test))
    assert overlap.train.ids is not None and overlap.test.ids is not None
    assert not set(overlap.train.ids) & set(overlap.test.ids)


def test_missing_metric_columns_are_used_what_is_there(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "changes.csv", 800, drop=("lt", "sexp", "__", ""))
    result = evaluate(path, time_fraction=0.8)
    assert result.missing_features == ["lt", "sexp"]
    assert "lt" not in result.features and "la" in result.features
    assert result.auc > 0.65


def test_without_la_and_ld_there_is_no_effort_recall(tmp_path: Path) -> None:
    result = evaluate(write_csv(tmp_path / "c.csv", 600, drop=("la", "ld")), time_fraction=0.8)
    assert result.recall_at_20pct_effort is None
    assert result.missing_features == ["la", "ld"]


def test_label_column_is_configurable(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "changes.csv", 600)
    text = path.read_text().splitlines()
    path.write_text("\n".join([text[0].replace(",bug,", ",failed,"), *text[1:]]) + "\n")
    assert evaluate(path, time_fraction=0.8, label="failed").n_test == 120
    with pytest.raises(InvalidInput, match="no label column 'bug'"):
        evaluate(path)


def test_recall_at_gated_counts_the_riskiest_share() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    assert recall_at_gated(y, p, 0.1) == pytest.approx(1 / 3)
    assert recall_at_gated(y, p, 0.3) == pytest.approx(2 / 3)
    assert recall_at_gated(y, p, 1.0) == 1.0


def test_recall_at_effort_ranks_by_risk_per_line() -> None:
    y = np.array([1, 0, 1, 1])
    p = np.array([0.9, 0.6, 0.3, 0.2])
    effort = np.array([100.0, 10.0, 2.0, 0.0])  # densities 0.009, 0.06, 0.15, inf
    # order: #3 (0 lines), #2 (2), #1 (10), #0 (100); 20 % of 112 lines = 22.4 -> first three
    assert recall_at_effort(y, p, effort) == pytest.approx(2 / 3)
    assert recall_at_effort(y, p, effort, share=0.01) == pytest.approx(1 / 3)
    assert recall_at_effort(y, p, effort, share=1.0) == 1.0


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


GOOD_HEADER = "_id,date,bug,la,ld,nf\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        (GOOD_HEADER, "no data rows, only a header"),
        ("_id,la,ld\na,1,2\n", "no label column 'bug' \\(columns: _id, la, ld\\)"),
        ("_id,bug,owner\na,1,x\n", "no change metric columns"),
        (
            GOOD_HEADER + "a,1,0,3,4,1\nb,2,1,3,lots,1\n",
            "line 3: column 'ld' is not a number: 'lots'",
        ),
        (
            GOOD_HEADER + "a,1,0,3,4,1\nb,2,7,3,4,1\n",
            "line 3: label column 'bug' must be 0 or 1, got '7'",
        ),
        (GOOD_HEADER + "a,1,0,3,4\n", "line 2: 5 fields, but the header has 6"),
        (GOOD_HEADER + "a,yesterday,0,3,4,1\n", "line 2: column 'date' is neither"),
        (GOOD_HEADER + "a,1,0,inf,4,1\n", "column 'la' is not a finite number"),
    ],
)
def test_bad_files_get_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        evaluate(_write(tmp_path / "bad.csv", content))


def test_a_class_missing_from_training_is_named(tmp_path: Path) -> None:
    rows = [f"c{i},{i},{1 if i >= 40 else 0},{i},{i},1" for i in range(50)]
    path = _write(tmp_path / "late.csv", GOOD_HEADER + "\n".join(rows) + "\n")
    with pytest.raises(
        InvalidInput, match=r"label class 1 \(failing changes\) never occurs in the training"
    ):
        evaluate(path, time_fraction=0.8)


def test_a_test_part_with_one_class_is_refused(tmp_path: Path) -> None:
    rows = [f"c{i},{i},{i % 2 if i < 40 else 0},{i},{i},1" for i in range(50)]
    path = _write(tmp_path / "calm.csv", GOOD_HEADER + "\n".join(rows) + "\n")
    with pytest.raises(InvalidInput, match="test part has no changes of class 1"):
        evaluate(path, time_fraction=0.8)


def test_missing_files_and_bad_options_are_refused(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "changes.csv", 100)
    with pytest.raises(InvalidInput, match=r"nope\.csv: file not found"):
        evaluate(tmp_path / "nope.csv")
    with pytest.raises(InvalidInput, match="is a directory"):
        evaluate(tmp_path)
    with pytest.raises(InvalidInput, match=r"nope\.csv: file not found"):
        evaluate(data, test=tmp_path / "nope.csv")
    with pytest.raises(InvalidInput, match="not both"):
        evaluate(data, test=data, time_fraction=0.8)
    with pytest.raises(InvalidInput, match="--time-split must be between 0 and 1"):
        evaluate(data, time_fraction=1.5)
    with pytest.raises(InvalidInput, match="nothing to train on"):
        evaluate(data, test=data)
    no_ids = write_csv(tmp_path / "no_ids.csv", 100, drop=("_id",))
    with pytest.raises(InvalidInput, match="needs an '_id' column"):
        evaluate(no_ids, test=data)
    binary = _write(tmp_path / "binary.csv", "")
    binary.write_bytes(b"\xff\xfe\x00bug,la\n")
    with pytest.raises(InvalidInput, match="not a UTF-8 text file"):
        evaluate(binary)
