"""Explanations of a change's risk in words a change manager understands (pure).

How much a metric pushed a score is measured by occlusion: the change is scored again
with that one metric set to its training median (derived ratios follow), and the
contribution is the difference in calibrated log-odds, `logit(p) - logit(p_without)`.
For a purely linear model this is exactly coefficient x (standardised value - standardised
median); with trees it is a simple, model-agnostic approximation whose parts need not add
up to the total. Each metric's value is put next to the training distribution: "1,240
lines added — more than 95 % of past changes".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from flywheel.risk.features import Vector

GRID_POINTS = 1001  # quantiles kept per metric to place a value in the training distribution

LABELS = {
    "ns": "subsystems touched",
    "nd": "directories touched",
    "nf": "files changed",
    "entropy": "spread across files",
    "la": "lines added",
    "ld": "lines deleted",
    "lt": "lines in the changed files before the change",
    "fix": "bug fix or not",
    "ndev": "developers who changed these files before",
    "age": "days since these files were last changed",
    "nuc": "earlier changes to these files",
    "exp": "author's earlier changes",
    "rexp": "author's recent experience",
    "sexp": "author's earlier changes in this subsystem",
}


@dataclass(frozen=True)
class Contribution:
    """One metric's push on a change's score, and why, in words."""

    feature: str
    value: float | None
    contribution: float  # calibrated log-odds; > 0 raises the risk
    text: str
    imputed: bool = False

    @property
    def effect(self) -> str:
        """'raises risk', 'lowers risk' or 'no effect'."""
        if self.contribution > 0:
            return "raises risk"
        return "lowers risk" if self.contribution < 0 else "no effect"

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form (the shape the rule-based explanation uses, plus details)."""
        return {
            "factor": self.feature,
            "contribution": round(self.contribution, 4),
            "detail": self.text,
            "value": self.value,
            "imputed": self.imputed,
        }


def quantile_grid(values: Vector) -> Vector:
    """Quantiles of a metric's known training values, for placing new values later."""
    known = values[np.isfinite(values)]
    return np.quantile(known, np.linspace(0.0, 1.0, GRID_POINTS)) if known.size else known


def shares(grid: Vector, value: float) -> tuple[float, float]:
    """Approximate shares of training changes with a smaller and with a larger value."""
    if grid.size == 0:
        return 0.0, 0.0
    below = np.searchsorted(grid, value, side="left") / grid.size
    above = 1.0 - np.searchsorted(grid, value, side="right") / grid.size
    return float(below), float(above)


def _count(value: float, singular: str, plural: str) -> str:
    n = round(value)
    return f"{n:,} {singular if n == 1 else plural}"


def value_phrase(metric: str, value: float) -> str:
    """A metric's value as a short phrase, e.g. '1,240 lines added'."""
    counted = {
        "ns": ("subsystem touched", "subsystems touched"),
        "nd": ("directory touched", "directories touched"),
        "nf": ("file changed", "files changed"),
        "la": ("line added", "lines added"),
        "ld": ("line deleted", "lines deleted"),
        "lt": ("line in the changed files before", "lines in the changed files before"),
        "ndev": ("developer changed these files before", "developers changed these files before"),
        "nuc": ("earlier change to these files", "earlier changes to these files"),
        "exp": ("earlier change by the author", "earlier changes by the author"),
        "sexp": ("earlier change by the author here", "earlier changes by the author here"),
    }
    if metric in counted:
        return _count(value, *counted[metric])
    if metric == "fix":
        return "a bug fix" if value >= 0.5 else "not a bug fix"
    if metric == "entropy":
        return f"change spread across files (entropy {value:.2f})"
    if metric == "age":
        return f"files last changed {value:,.0f} days earlier on average"
    if metric == "rexp":
        return f"author's recent-experience score {value:,.1f}"
    return f"{metric} = {value:g}"


def comparison(grid: Vector, value: float) -> str:
    """Where a value sits among past changes, e.g. 'more than 95 % of past changes'."""
    below, above = shares(grid, value)
    if below >= 0.5:
        return f"more than {min(99, math.floor(below * 100))} % of past changes"
    if above >= 0.5:
        return f"less than {min(99, math.floor(above * 100))} % of past changes"
    return "typical of past changes"


def describe(metric: str, value: float, grid: Vector) -> str:
    """A sentence on one metric of a change: its value and where it sits among past changes."""
    phrase = value_phrase(metric, value)
    return phrase if metric == "fix" else f"{phrase} — {comparison(grid, value)}"


def describe_imputed(metric: str, median: float) -> str:
    """A sentence saying a metric was missing and what was assumed."""
    label = LABELS.get(metric, metric)
    return f"{label} not given — assumed typical: {value_phrase(metric, median)}"
