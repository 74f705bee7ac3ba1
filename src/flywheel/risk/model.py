"""The learned change risk model: training, calibrated scores with explanations, storage.

Training (`train`, `train_matrix`) orders the changes by time, holds out the most recent
20 % to choose the number of boosting iterations and to fit the Platt calibration
(out-of-time, so the probabilities match the recent failure rate), then refits the
learners on all rows and keeps that calibration. Missing metric values are imputed with
training medians (and the explanation says so). See `learners` for the ensemble and
`explain` for how contributions are measured and worded.
"""

from __future__ import annotations

import copy
import hashlib
import math
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import sklearn  # type: ignore[import-untyped]
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

from flywheel.errors import InvalidInput
from flywheel.risk.explain import Contribution, describe, describe_imputed, quantile_grid
from flywheel.risk.features import (
    Matrix,
    Vector,
    canonical,
    metric_matrix,
    number,
    present_metrics,
)
from flywheel.risk.learners import (
    MAX_TREE_ITERATIONS,
    Labels,
    Platt,
    Scorer,
    choose_iterations,
    fit_platt,
    fit_scorer,
    single_threaded,
    use_trees,
)
from flywheel.risk.rules import RiskAssessment

__all__ = [
    "Contribution",
    "ScoredChange",
    "TrainedModel",
    "threshold_for_budget",
    "train",
    "train_matrix",
]

MODEL_FAMILY = "jit-ensemble-1"
FORMAT = "flywheel-risk-model"
FORMAT_VERSION = 1
HOLDOUT_FRACTION = 0.2
MIN_HOLDOUT_CLASS = 5
LEVEL_BUDGETS = (("very_high", 0.05), ("high", 0.20), ("medium", 0.50))
MIN_CONTRIBUTION = 0.005  # calibrated log-odds; weaker pushes are not worth a line


@dataclass(frozen=True)
class ScoredChange:
    """A change's calibrated failure probability, its level and what drove it."""

    probability: float
    level: str
    explanation: list[Contribution]
    model_version: str
    imputed: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

    def as_assessment(self) -> RiskAssessment:
        """The shape the change domain already uses for rule-based scores."""
        return RiskAssessment(
            round(self.probability, 4),
            self.level,
            [c.as_dict() for c in self.explanation],
            self.model_version,
        )


@dataclass
class _State:
    """Everything a trained model needs to score (pickled as one object)."""

    metrics: tuple[str, ...]
    medians: Vector
    grids: list[Vector]
    scorer: Scorer
    platt: Platt
    level_cutpoints: tuple[tuple[str, float], ...]
    metadata: dict[str, object] = field(default_factory=dict)


def threshold_for_budget(scores: Sequence[float] | Vector, fraction: float) -> float:
    """The score at or above which the riskiest `fraction` of `scores` lie (ties gate too)."""
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        raise InvalidInput("no scores to derive a threshold from")
    if not 0.0 < fraction <= 1.0:
        raise InvalidInput(f"budget must be a fraction in (0, 1], got {fraction}")
    if not np.isfinite(values).all():
        raise InvalidInput("scores must be finite numbers")
    k = max(1, math.ceil(fraction * values.size - 1e-9))
    return float(np.sort(values)[::-1][k - 1])


class TrainedModel:
    """A trained, calibrated change risk model."""

    def __init__(self, state: _State) -> None:
        self._state = state

    @property
    def version(self) -> str:
        """The model version every score carries."""
        return str(self._state.metadata["version"])

    @property
    def features(self) -> tuple[str, ...]:
        """The metrics the model uses, in canonical names."""
        return self._state.metrics

    @property
    def metadata(self) -> dict[str, object]:
        """JSON-ready facts about the model: version, features, training data, metrics."""
        return copy.deepcopy(self._state.metadata)

    def level_of(self, probability: float) -> str:
        """The risk level: very_high/high/medium for the riskiest 5/20/50 % of training."""
        for name, cut in self._state.level_cutpoints:
            if probability >= cut:
                return name
        return "low"

    def probabilities(self, x: Matrix, columns: Sequence[str]) -> Vector:
        """Calibrated probabilities for rows of metrics named by `columns` (NaN = missing)."""
        index = {canonical(c): i for i, c in enumerate(columns)}
        picked = np.full((x.shape[0], len(self.features)), np.nan)
        for j, metric in enumerate(self.features):
            if metric in index:
                picked[:, j] = x[:, index[metric]]
        with single_threaded():
            return self._state.platt.probability(self._decision(picked))

    def _decision(self, raw: Matrix) -> Vector:
        filled = np.where(np.isfinite(raw), raw, self._state.medians)
        return self._state.scorer.decision(filled)

    def score(self, features: Mapping[str, object], *, top: int = 3) -> ScoredChange:
        """Score one change; explain its `top` strongest metrics and any imputed ones."""
        state = self._state
        raw = metric_matrix([features], state.metrics)[0]
        missing = ~np.isfinite(raw)
        filled = np.where(missing, state.medians, raw)
        probe = np.repeat(filled[None, :], 1 + len(filled), axis=0)
        probe[np.arange(1, len(filled) + 1), np.arange(len(filled))] = state.medians
        with single_threaded():
            log_odds = state.platt.log_odds(state.scorer.decision(probe))
        pushes = log_odds[0] - log_odds[1:]
        probability = float(1.0 / (1.0 + math.exp(-float(log_odds[0]))))
        return ScoredChange(
            probability,
            self.level_of(probability),
            self._explained(raw, pushes, top),
            self.version,
            imputed=tuple(m for m, gone in zip(state.metrics, missing, strict=True) if gone),
            ignored=tuple(sorted(k for k in features if canonical(k) not in state.metrics)),
        )

    def _explained(self, raw: Vector, pushes: Vector, top: int) -> list[Contribution]:
        """Words for the strongest pushes, then a note per imputed metric."""
        state = self._state
        order = np.argsort(-np.abs(pushes), kind="stable")
        strong = [j for j in order if np.isfinite(raw[j]) and abs(pushes[j]) >= MIN_CONTRIBUTION]
        parts = [
            Contribution(
                state.metrics[j],
                float(raw[j]),
                float(pushes[j]),
                describe(state.metrics[j], float(raw[j]), state.grids[j]),
            )
            for j in strong[:top]
        ]
        for j in np.flatnonzero(~np.isfinite(raw)):
            text = describe_imputed(state.metrics[j], float(state.medians[j]))
            parts.append(Contribution(state.metrics[j], None, 0.0, text, imputed=True))
        return parts

    def to_bytes(self) -> bytes:
        """The model as bytes for storage (load only bytes Flywheel itself stored: pickle)."""
        payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "state": self._state}
        return pickle.dumps(payload, protocol=5)

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainedModel:
        """A model from `to_bytes` output."""
        try:
            payload = pickle.loads(data)
        except Exception as exc:  # unpickling can fail in many ways; all mean "not a model"
            raise InvalidInput(f"not a stored risk model: {exc.__class__.__name__}") from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise InvalidInput("not a stored risk model")
        if payload.get("format_version") != FORMAT_VERSION:
            raise InvalidInput(f"unsupported risk model format {payload.get('format_version')}")
        return cls(payload["state"])


def _labels(labels: Sequence[int] | Labels) -> Labels:
    y = np.asarray([number(v, where=f"label {i + 1}") for i, v in enumerate(labels)])
    bad = np.flatnonzero((y != 0) & (y != 1))
    if bad.size:
        raise InvalidInput(f"label {bad[0] + 1}: expected 0 or 1, got {y[bad[0]]:g}")
    y_int = y.astype(np.int_)
    for cls, what in ((1, "failing changes"), (0, "changes that did not fail")):
        if not (y_int == cls).any():
            raise InvalidInput(f"label class {cls} ({what}) never occurs in the training data")
    return y_int


def _time_order(
    dates: Sequence[float] | Vector | None, n: int
) -> tuple[NDArray[np.intp], Vector | None]:
    if dates is None:
        return np.arange(n, dtype=np.intp), None
    when = np.asarray([number(d, where=f"date {i + 1}") for i, d in enumerate(dates)])
    if when.size != n:
        raise InvalidInput(f"{when.size} dates for {n} changes")
    if not np.isfinite(when).all():
        raise InvalidInput("every change needs a date when dates are given")
    return np.argsort(when, kind="stable").astype(np.intp), when.astype(float)


def _brier(y: Labels, p: Vector) -> float:
    return float(np.mean((p - y) ** 2))


def _can_hold_out(early_y: Labels, held_y: Labels) -> bool:
    """Whether both parts have enough changes of each class to fit and to calibrate."""
    counts = [int(np.bincount(part, minlength=2).min()) for part in (early_y, held_y)]
    return min(counts) >= MIN_HOLDOUT_CLASS


def _fit(x: Matrix, y: Labels, metrics: tuple[str, ...]) -> tuple[Scorer, Platt, dict[str, object]]:
    """Fit on the earlier part, calibrate on the recent slice, refit on everything."""
    cut = len(y) - int(len(y) * HOLDOUT_FRACTION)
    early_y, held_y = y[:cut], y[cut:]
    if not _can_hold_out(early_y, held_y):
        scorer = fit_scorer(x, y, metrics, tree_iterations=None)
        return scorer, fit_platt(scorer.decision(x), y), {"calibrated_on": "training rows"}
    trees = MAX_TREE_ITERATIONS if use_trees(early_y) else None
    early = fit_scorer(x[:cut], early_y, metrics, tree_iterations=trees)
    if early.trees is not None:
        trees, z_held = choose_iterations(early, x[cut:], held_y)
    else:
        z_held = early.decision(x[cut:])
    platt = fit_platt(z_held, held_y)
    p_held = platt.probability(z_held)
    holdout: dict[str, object] = {
        "calibrated_on": "most recent 20 % held out",
        "n_holdout": int(held_y.size),
        "holdout_auc": round(float(roc_auc_score(held_y, z_held)), 4),
        "holdout_brier": round(_brier(held_y, p_held), 4),
        "holdout_brier_base_rate": round(_brier(held_y, np.full(held_y.size, early_y.mean())), 4),
    }
    return fit_scorer(x, y, metrics, tree_iterations=trees), platt, holdout


def _version(state: _State) -> str:
    parts = (state.metrics, state.medians, state.scorer, state.platt)
    return f"{MODEL_FAMILY}-{hashlib.sha256(pickle.dumps(parts)).hexdigest()[:12]}"


def _metadata(state: _State, y: Labels, when: Vector | None, fit: dict[str, object]) -> None:
    span = None if when is None else {"start": float(when.min()), "end": float(when.max())}
    state.metadata.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        version=_version(state),
        family=MODEL_FAMILY,
        features=list(state.metrics),
        medians={m: float(v) for m, v in zip(state.metrics, state.medians, strict=True)},
        n_train=int(y.size),
        n_failing=int(y.sum()),
        time_range=span,
        learners={
            "logistic_regression": True,
            "boosted_tree_iterations": state.scorer.tree_iterations,
        },
        calibration={
            "method": "platt",
            "slope": state.platt.slope,
            "intercept": state.platt.intercept,
        },
        level_cutpoints=dict(state.level_cutpoints),
        metrics=fit,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        sklearn_version=str(sklearn.__version__),
    )


def train_matrix(
    x: Matrix,
    labels: Sequence[int] | Labels,
    metrics: Sequence[str],
    *,
    dates: Sequence[float] | Vector | None = None,
) -> TrainedModel:
    """Train on a matrix of metrics (columns named by `metrics`, NaN = missing)."""
    started = time.perf_counter()
    y = _labels(labels)
    if x.shape[0] != y.size:
        raise InvalidInput(f"{x.shape[0]} changes but {y.size} labels")
    order, when = _time_order(dates, y.size)
    names = [canonical(m) for m in metrics]
    keep = [
        i
        for i, m in enumerate(names)
        if m is not None and m not in names[:i] and np.isfinite(x[:, i]).any()
    ]
    if not keep:
        raise InvalidInput("no change metric has a value in the training data")
    raw, y = x[order][:, keep], y[order]
    chosen = tuple(str(names[i]) for i in keep)
    medians = np.nanmedian(raw, axis=0)
    filled = np.where(np.isfinite(raw), raw, medians)
    with single_threaded():
        scorer, platt, fit = _fit(filled, y, chosen)
        probs = platt.probability(scorer.decision(filled))
    cutpoints = tuple((name, threshold_for_budget(probs, b)) for name, b in LEVEL_BUDGETS)
    grids = [quantile_grid(raw[:, j]) for j in range(len(chosen))]
    state = _State(chosen, medians, grids, scorer, platt, cutpoints)
    _metadata(state, y, when, {**fit, "training_seconds": round(time.perf_counter() - started, 3)})
    return TrainedModel(state)


def train(
    rows: Sequence[Mapping[str, object]],
    labels: Sequence[int],
    *,
    dates: Sequence[float] | None = None,
) -> TrainedModel:
    """Train on changes given as metric mappings (missing or None values are imputed)."""
    if not rows:
        raise InvalidInput("no training changes")
    metrics = present_metrics(rows)
    return train_matrix(metric_matrix(rows, metrics), labels, metrics, dates=dates)
