"""The learners behind the change risk model: a log-odds ensemble and its Platt calibration.

The ensemble adds the log-odds of two class-balanced learners that fail differently:

- a logistic regression on standardised log1p metrics (the classic JIT model of Kamei
  et al.: robust, near-monotone, works on small histories);
- a shallow, regularised gradient-boosted tree model (scikit-learn
  HistGradientBoostingClassifier) on the raw metrics plus relative churn ratios
  (la/lt, ld/lt, churn/nf, ...), which finds thresholds and interactions; it joins only
  when there are enough rows and failures to learn from (see `use_trees`).

A Platt (sigmoid) map turns the summed log-odds into probabilities: it is fitted on a
time-ordered held-out slice, and being strictly increasing it keeps the ranking (AUC,
budget thresholds) exactly as the ensemble ranks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from flywheel.risk.features import Matrix, Vector, linear_design, tree_design

Labels = NDArray[np.int_]

LEARNING_RATE = 0.05
MAX_TREE_ITERATIONS = 500
DEFAULT_TREE_ITERATIONS = 300  # used when no held-out slice can choose
MIN_TREE_ROWS = 500
MIN_TREE_CLASS = 50
ITERATION_STEP = 10
ITERATION_TOLERANCE = 0.002  # prefer fewer trees when within this much AUC of the best

_THREADS = ThreadpoolController()


# These models are small: OpenMP threads fighting other workers for the cores made
# training several times slower on a busy 2-core machine than one thread.
@contextmanager
def single_threaded() -> Iterator[None]:
    """Run the native code inside on one thread."""
    with _THREADS.limit(limits=1):
        yield


@dataclass(frozen=True)
class LinearPart:
    """A fitted logistic regression on standardised log1p metrics, as plain arrays."""

    mean: Vector
    scale: Vector
    coef: Vector
    intercept: float

    def decision(self, x: Matrix) -> Vector:
        """Log-odds (numpy only: scoring one change must not pay sklearn's input checks)."""
        return np.asarray((linear_design(x) - self.mean) / self.scale @ self.coef + self.intercept)


@dataclass
class Scorer:
    """A fitted ensemble: log-odds of the linear model plus those of the trees (if any)."""

    metrics: tuple[str, ...]
    linear: LinearPart
    trees: Any | None

    def decision(self, x: Matrix) -> Vector:
        """The ensemble's (uncalibrated) log-odds for imputed metric rows."""
        z = self.linear.decision(x)
        if self.trees is not None:
            z = z + np.asarray(self.trees.decision_function(tree_design(x, self.metrics)))
        return z

    @property
    def tree_iterations(self) -> int:
        """How many boosting iterations the trees use (0 without trees)."""
        return int(self.trees.n_iter_) if self.trees is not None else 0


@dataclass(frozen=True)
class Platt:
    """p = sigmoid(slope * z + intercept), with slope > 0 so the ranking is kept."""

    slope: float
    intercept: float

    def log_odds(self, z: Vector) -> Vector:
        """Calibrated log-odds."""
        return self.slope * z + self.intercept

    def probability(self, z: Vector) -> Vector:
        """Calibrated probabilities."""
        return np.asarray(1.0 / (1.0 + np.exp(-self.log_odds(z))), dtype=float)


def use_trees(y: Labels) -> bool:
    """Whether there is enough history for the tree model to earn its place."""
    failures = int(y.sum())
    return len(y) >= MIN_TREE_ROWS and min(failures, len(y) - failures) >= MIN_TREE_CLASS


def fit_linear(x: Matrix, y: Labels) -> LinearPart:
    """Standardised logistic regression (L2, C=1) on log1p metrics, classes balanced."""
    design = linear_design(x)
    scaler = StandardScaler().fit(design)
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    model.fit(scaler.transform(design), y)
    return LinearPart(
        np.asarray(scaler.mean_, dtype=float),
        np.asarray(scaler.scale_, dtype=float),
        np.asarray(model.coef_[0], dtype=float),
        float(model.intercept_[0]),
    )


def fit_trees(x: Matrix, y: Labels, metrics: tuple[str, ...], iterations: int) -> Any:
    """Shallow, regularised boosted trees on raw metrics and ratios, classes balanced."""
    model = HistGradientBoostingClassifier(
        learning_rate=LEARNING_RATE,
        max_iter=iterations,
        max_leaf_nodes=15,
        min_samples_leaf=50,
        l2_regularization=1.0,
        class_weight="balanced",
        early_stopping=False,
        random_state=0,
    )
    return model.fit(tree_design(x, metrics), y)


def fit_scorer(
    x: Matrix, y: Labels, metrics: tuple[str, ...], *, tree_iterations: int | None
) -> Scorer:
    """Fit the ensemble; `tree_iterations=None` leaves the trees out."""
    trees = fit_trees(x, y, metrics, tree_iterations) if tree_iterations else None
    return Scorer(metrics, fit_linear(x, y), trees)


def choose_iterations(scorer: Scorer, x_val: Matrix, y_val: Labels) -> tuple[int, Vector]:
    """The fewest boosting iterations within tolerance of the best held-out AUC, and its scores."""
    assert scorer.trees is not None
    linear = scorer.linear.decision(x_val)
    staged = scorer.trees.staged_decision_function(tree_design(x_val, scorer.metrics))
    found: list[tuple[int, float, Vector]] = []
    for i, trees_z in enumerate(staged, start=1):
        if i % ITERATION_STEP == 0 or i == scorer.tree_iterations:
            z = linear + np.ravel(trees_z)
            found.append((i, float(roc_auc_score(y_val, z)), z))
    best = max(auc for _, auc, _ in found)
    return next((i, z) for i, auc, z in found if auc >= best - ITERATION_TOLERANCE)


def fit_platt(z: Vector, y: Labels) -> Platt:
    """Platt scaling of log-odds `z` to the observed failure rate (unweighted)."""
    model = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
    slope, intercept = float(model.coef_[0, 0]), float(model.intercept_[0])
    if slope > 1e-3:
        return Platt(slope, intercept)
    # no ranking signal held out: flatten towards the observed rate, keep the order
    rate = min(max(float(y.mean()), 1e-6), 1 - 1e-6)
    return Platt(1e-3, math.log(rate / (1 - rate)) - 1e-3 * float(z.mean()))
