"""Evaluating the change risk model on labelled changes: what `flywheel risk evaluate` runs.

The model is trained with the product's own code path (`model.train_matrix`) on the
training part only and scores the test part. Metrics:

- `auc`: ROC AUC of the test probabilities.
- `precision`, `recall`, `f1` at the *chosen threshold*: the score that gates the riskiest
  `budget` (default 20 %) of the training changes, as a "send the riskiest 20 % to review"
  policy would be set before the test period; `gated_share` is the share of test changes
  it actually gates.
- `recall_at_5pct_gated`, `..._10pct_...`, `..._20pct_...`: the share of failing test
  changes among the riskiest 5/10/20 % of test changes by probability.
- `brier` (and `brier_base_rate`, always predicting the training failure rate) and
  `mean_probability` next to `test_failure_rate`: how well the probabilities are calibrated.
- `recall_at_20pct_effort`: effort-aware recall as in the JIT literature (Kamei et al.
  2013; JITLine, Pornprasit & Tantithamthavorn 2021; Zeng et al. 2021): rank test changes
  by predicted defect density, probability / effort with effort = lines changed (la + ld;
  a change of 0 lines costs nothing and comes first), inspect them in that order while the
  cumulative effort stays within 20 % of the total, and report the share of failing
  changes found. Null when the data has no la/ld.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

from flywheel.errors import InvalidInput
from flywheel.risk.dataset import DEFAULT_LABEL, ChangeTable, read_changes
from flywheel.risk.features import METRICS, Vector
from flywheel.risk.learners import Labels
from flywheel.risk.model import TrainedModel, threshold_for_budget, train_matrix

DEFAULT_TIME_SPLIT = 0.8
DEFAULT_BUDGET = 0.2
GATED = (0.05, 0.10, 0.20)
EFFORT_SHARE = 0.2


@dataclass(frozen=True)
class Split:
    """A training part and a test part of labelled changes."""

    train: ChangeTable
    test: ChangeTable
    how: str


@dataclass(frozen=True)
class Evaluation:
    """Held-out metrics of a model trained on one part and tested on the other."""

    auc: float
    precision: float
    recall: float
    f1: float
    threshold: float
    budget: float
    gated_share: float
    recall_at_20pct_effort: float | None
    recall_at_5pct_gated: float
    recall_at_10pct_gated: float
    recall_at_20pct_gated: float
    brier: float
    brier_base_rate: float
    mean_probability: float
    test_failure_rate: float
    n_train: int
    n_test: int
    n_test_failing: int
    split: str
    features: list[str]
    ignored_columns: list[str]
    missing_features: list[str]
    model_version: str
    training_seconds: float

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict, floats rounded to 4 places."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def time_split(table: ChangeTable, fraction: float = DEFAULT_TIME_SPLIT) -> Split:
    """The first int(fraction * n) changes in time order train; the rest test."""
    if not 0.0 < fraction < 1.0:
        raise InvalidInput(f"--time-split must be between 0 and 1, got {fraction}")
    order = table.time_order()
    cut = int(fraction * len(table))
    if cut == 0 or cut == len(table):
        raise InvalidInput(f"{len(table)} changes cannot be split {fraction:g} / {1 - fraction:g}")
    how = f"time split {fraction:g}" + (" by date" if table.dates is not None else " in file order")
    return Split(table.take(order[:cut]), table.take(order[cut:]), how)


def explicit_split(data: ChangeTable, test: ChangeTable) -> Split:
    """Train on the changes of `data` whose `_id` is not in `test`; test on `test`."""
    if data.ids is None or test.ids is None:
        raise InvalidInput("--test needs an '_id' column in both files to tell the rows apart")
    held = set(test.ids)
    keep = np.asarray([i for i, change in enumerate(data.ids) if change not in held], dtype=np.intp)
    if keep.size == 0:
        raise InvalidInput("every change of the data file is in the test file: nothing to train on")
    train = data.take(keep)
    return Split(train.take(train.time_order()), test, f"explicit test file {test.source}")


def recall_at_gated(y: Labels, p: Vector, fraction: float) -> float:
    """Share of failing changes among the riskiest `fraction` of changes by probability."""
    k = max(1, math.ceil(fraction * y.size - 1e-9))
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].sum() / max(1, y.sum()))


def recall_at_effort(y: Labels, p: Vector, effort: Vector, share: float = EFFORT_SHARE) -> float:
    """Share of failing changes found within `share` of total effort, by predicted density."""
    with np.errstate(divide="ignore"):
        density = np.where(effort > 0, p / np.where(effort > 0, effort, 1.0), np.inf)
    order = np.lexsort((effort, -p, -density))
    within = np.cumsum(effort[order]) <= share * effort.sum()
    return float(y[order][within].sum() / max(1, y.sum()))


def _effort(split: Split) -> Vector | None:
    """Lines changed (la + ld) per test change; missing values take training medians."""
    columns = [
        (split.train.metrics.index(m), split.test.metrics.index(m))
        for m in ("la", "ld")
        if m in split.train.metrics and m in split.test.metrics
    ]
    if len(columns) < 2:
        return None
    total = np.zeros(len(split.test))
    for train_at, test_at in columns:
        fallback = np.nanmedian(split.train.x[:, train_at])
        values = split.test.x[:, test_at]
        total += np.where(np.isfinite(values), values, fallback)
    return np.clip(total, 0.0, None)


def _check_test(y: Labels) -> None:
    for cls in (0, 1):
        if not (y == cls).any():
            raise InvalidInput(f"the test part has no changes of class {cls}: ROC AUC is undefined")


def _threshold_metrics(y: Labels, p: Vector, threshold: float) -> tuple[float, float, float]:
    gated = p >= threshold
    hits = float((gated & (y == 1)).sum())
    precision = hits / gated.sum() if gated.any() else 0.0
    recall = hits / max(1, int(y.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def _reported(split: Split, model: TrainedModel) -> tuple[list[str], list[str]]:
    """Columns ignored in either file; metrics missing from either file or unused by the model."""
    ignored = sorted({*split.train.ignored_columns, *split.test.ignored_columns})
    missing = {*split.train.missing_metrics, *split.test.missing_metrics}
    missing |= {m for m in split.train.metrics if m not in model.features}
    return ignored, [m for m in METRICS if m in missing]


def evaluate_split(split: Split, *, budget: float = DEFAULT_BUDGET) -> Evaluation:
    """Train on the training part (the product's code path) and measure on the test part."""
    started = time.perf_counter()
    train = split.train
    model = train_matrix(train.x, train.labels, train.metrics, dates=train.dates)
    seconds = time.perf_counter() - started
    y, p = split.test.labels, model.probabilities(split.test.x, split.test.metrics)
    _check_test(y)
    threshold = threshold_for_budget(model.probabilities(train.x, train.metrics), budget)
    precision, recall, f1 = _threshold_metrics(y, p, threshold)
    effort = _effort(split)
    ignored, missing = _reported(split, model)
    return Evaluation(
        auc=float(roc_auc_score(y, p)),
        precision=precision,
        recall=recall,
        f1=f1,
        threshold=threshold,
        budget=budget,
        gated_share=float((p >= threshold).mean()),
        recall_at_20pct_effort=None if effort is None else recall_at_effort(y, p, effort),
        recall_at_5pct_gated=recall_at_gated(y, p, GATED[0]),
        recall_at_10pct_gated=recall_at_gated(y, p, GATED[1]),
        recall_at_20pct_gated=recall_at_gated(y, p, GATED[2]),
        brier=float(np.mean((p - y) ** 2)),
        brier_base_rate=float(np.mean((train.labels.mean() - y) ** 2)),
        mean_probability=float(p.mean()),
        test_failure_rate=float(y.mean()),
        n_train=len(train),
        n_test=len(split.test),
        n_test_failing=int(y.sum()),
        split=split.how,
        features=list(model.features),
        ignored_columns=ignored,
        missing_features=missing,
        model_version=model.version,
        training_seconds=seconds,
    )


def evaluate(
    data: str | Path,
    *,
    test: str | Path | None = None,
    time_fraction: float | None = None,
    label: str = DEFAULT_LABEL,
    budget: float = DEFAULT_BUDGET,
) -> Evaluation:
    """Read the data (and test) file, split, train, and measure."""
    if test is not None and time_fraction is not None:
        raise InvalidInput("give either a test file or a time split, not both")
    if not 0.0 < budget < 1.0:
        raise InvalidInput(f"--budget must be between 0 and 1, got {budget}")
    table = read_changes(data, label=label)
    if test is None:
        split = time_split(table, DEFAULT_TIME_SPLIT if time_fraction is None else time_fraction)
    else:
        split = explicit_split(table, read_changes(test, label=label))
    return evaluate_split(split, budget=budget)
