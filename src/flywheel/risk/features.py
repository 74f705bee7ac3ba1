"""The 14 change metrics of Kamei et al. (TSE 2013) and the model inputs derived from them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from flywheel.errors import InvalidInput

Matrix = NDArray[np.float64]
Vector = NDArray[np.float64]

METRICS: tuple[str, ...] = (
    "ns",
    "nd",
    "nf",
    "entropy",
    "la",
    "ld",
    "lt",
    "fix",
    "ndev",
    "age",
    "nuc",
    "exp",
    "rexp",
    "sexp",
)
ALIASES = {"entrophy": "entropy"}  # the published data sets spell it this way


def canonical(name: str) -> str | None:
    """The metric a column or key names (`entrophy` is `entropy`), or None if it is no metric."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in METRICS else None


def number(value: object, *, where: str) -> float:
    """A metric value as a float (NaN when missing); anything else is invalid input."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    raise InvalidInput(f"{where}: expected a number, got {value!r}")


def metric_matrix(rows: Sequence[Mapping[str, object]], metrics: Sequence[str]) -> Matrix:
    """Rows of named metric values as a matrix in `metrics` order (NaN where missing)."""
    index = {m: i for i, m in enumerate(metrics)}
    out = np.full((len(rows), len(metrics)), np.nan)
    for r, row in enumerate(rows):
        for key, value in row.items():
            name = canonical(key)
            if name is not None and name in index:
                out[r, index[name]] = number(value, where=f"row {r + 1}, {key}")
    return out


def present_metrics(rows: Sequence[Mapping[str, object]]) -> tuple[str, ...]:
    """The metrics that at least one row gives a value for, in canonical order."""
    seen = {canonical(k) for row in rows for k, v in row.items() if v is not None}
    return tuple(m for m in METRICS if m in seen)


def linear_design(x: Matrix) -> Matrix:
    """Inputs of the linear model: log1p of every (non-negative, skewed) metric."""
    return np.log1p(np.clip(x, 0.0, None))


def _derived(columns: Mapping[str, Vector]) -> list[tuple[str, Vector]]:
    """Relative churn and size features; only those whose inputs are present."""
    out: list[tuple[str, Vector]] = []
    la, ld, lt, nf = (columns.get(m) for m in ("la", "ld", "lt", "nf"))
    churn = la + ld if la is not None and ld is not None else None
    if churn is not None:
        out.append(("churn", churn))
    if lt is not None:
        out += [
            (f"{n}_per_lt", v / (lt + 1.0)) for n, v in (("la", la), ("ld", ld)) if v is not None
        ]
    if nf is not None:
        files = np.maximum(nf, 1.0)
        per_file = [("churn", churn), *((m, columns.get(m)) for m in ("lt", "nuc", "ndev"))]
        out += [(f"{n}_per_file", v / files) for n, v in per_file if v is not None]
    return out


def tree_design(x: Matrix, metrics: Sequence[str]) -> Matrix:
    """Inputs of the tree model: the raw metrics plus relative churn and size ratios."""
    clipped = np.clip(x, 0.0, None)
    columns = {m: clipped[:, i] for i, m in enumerate(metrics)}
    extra = [v for _, v in _derived(columns)]
    return np.column_stack([clipped, *extra]) if extra else clipped


def tree_feature_names(metrics: Sequence[str]) -> list[str]:
    """Column names of `tree_design` for these metrics."""
    dummy = {m: np.ones(1) for m in metrics}
    return [*metrics, *(name for name, _ in _derived(dummy))]
