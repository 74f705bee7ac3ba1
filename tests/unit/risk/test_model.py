"""The learned change risk model on synthetic changes whose true risk is known."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

from flywheel.errors import InvalidInput
from flywheel.risk.features import METRICS
from flywheel.risk.model import TrainedModel, threshold_for_budget, train, train_matrix
from flywheel.risk.rules import RiskAssessment

Rows = list[dict[str, float]]


def true_logit(rows: Rows) -> np.ndarray:
    """The synthetic truth: risk grows with log churn and bug fixes, falls with experience."""
    churn = np.array([r["la"] + r["ld"] for r in rows])
    exp = np.array([r["exp"] for r in rows])
    fix = np.array([r["fix"] for r in rows])
    return np.asarray(-3.2 + 0.9 * np.log1p(churn) - 0.35 * np.log1p(exp) + 0.7 * fix)


def synthetic_changes(n: int, seed: int) -> tuple[Rows, list[int], list[float]]:
    """Changes with all 14 metrics, labels drawn from `true_logit`, and increasing dates."""
    rng = np.random.default_rng(seed)
    rows: Rows = []
    for _ in range(n):
        nf = float(rng.integers(1, 12))
        rows.append(
            {
                "ns": float(rng.integers(1, 3)),
                "nd": min(nf, float(rng.integers(1, 6))),
                "nf": nf,
                "entropy": float(rng.uniform(0, math.log2(nf) if nf > 1 else 0)),
                "la": float(np.round(rng.lognormal(2.5, 1.4))),
                "ld": float(np.round(rng.lognormal(1.5, 1.4))),
                "lt": float(np.round(rng.lognormal(7, 1))),
                "fix": float(rng.random() < 0.3),
                "ndev": float(rng.integers(1, 40)),
                "age": float(rng.exponential(60)),
                "nuc": float(rng.integers(1, 200)),
                "exp": float(np.round(rng.lognormal(6, 1.5))),
                "rexp": float(rng.exponential(50)),
                "sexp": float(rng.integers(1, 500)),
            }
        )
    p = 1 / (1 + np.exp(-true_logit(rows)))
    labels = [int(v) for v in rng.random(n) < p]
    dates = [1.6e9 + 3600.0 * i for i in range(n)]
    return rows, labels, dates


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    rows, labels, dates = synthetic_changes(4000, seed=1)
    return train(rows, labels, dates=dates)


@pytest.fixture(scope="module")
def fresh() -> tuple[Rows, np.ndarray]:
    rows, labels, _ = synthetic_changes(6000, seed=2)
    return rows, np.array(labels)


def probabilities(model: TrainedModel, rows: Rows) -> np.ndarray:
    return np.array([model.score(r).probability for r in rows])


def median_change(model: TrainedModel) -> dict[str, float]:
    medians = model.metadata["medians"]
    assert isinstance(medians, dict)
    return {m: float(v) for m, v in medians.items()}


def test_ranks_fresh_changes_nearly_as_well_as_the_truth(
    model: TrainedModel, fresh: tuple[Rows, np.ndarray]
) -> None:
    rows, y = fresh
    oracle = roc_auc_score(y, true_logit(rows))
    learned = roc_auc_score(y, model.probabilities(_matrix(rows), METRICS))
    assert oracle > 0.75
    assert learned > oracle - 0.02


def test_probabilities_are_calibrated(model: TrainedModel, fresh: tuple[Rows, np.ndarray]) -> None:
    rows, y = fresh
    p = model.probabilities(_matrix(rows), METRICS)
    assert abs(p.mean() - y.mean()) < 0.02
    bins = np.array_split(np.argsort(p), 5)
    for members in bins:  # reliability: predicted ~ observed in each fifth of the scores
        assert abs(p[members].mean() - y[members].mean()) < 0.05
    brier = np.mean((p - y) ** 2)
    base_rate = np.mean((y.mean() - y) ** 2)
    assert brier < base_rate - 0.01


def test_metadata_is_json_and_records_training(model: TrainedModel) -> None:
    meta = json.loads(json.dumps(model.metadata))
    assert meta["version"] == model.version and model.version.startswith("jit-ensemble-1-")
    assert meta["features"] == list(METRICS)
    assert meta["n_train"] == 4000
    assert meta["time_range"] == {"start": 1.6e9, "end": 1.6e9 + 3600.0 * 3999}
    assert meta["learners"]["boosted_tree_iterations"] > 0
    assert meta["metrics"]["n_holdout"] == 800
    assert meta["metrics"]["holdout_auc"] > 0.7
    assert meta["metrics"]["holdout_brier"] < meta["metrics"]["holdout_brier_base_rate"]


def test_explanation_names_the_driving_metric_in_words(model: TrainedModel) -> None:
    big = model.score({**median_change(model), "la": 5000.0})
    first = big.explanation[0]
    assert first.feature == "la" and first.contribution > 0.5 and first.effect == "raises risk"
    assert re.fullmatch(r"5,000 lines added — more than 9\d % of past changes", first.text)
    tiny = model.score({**median_change(model), "la": 0.0, "ld": 0.0})
    assert {c.feature for c in tiny.explanation[:2]} == {"la", "ld"}
    assert all(c.contribution < 0 for c in tiny.explanation[:2])
    assert "less than" in tiny.explanation[0].text
    assert big.probability > 0.5 > tiny.probability


def test_experienced_author_lowers_risk_and_a_fix_raises_it(model: TrainedModel) -> None:
    base = median_change(model)
    seasoned = model.score({**base, "exp": 50_000.0}).explanation[0]
    assert seasoned.feature == "exp" and seasoned.contribution < 0
    assert seasoned.text.startswith("50,000 earlier changes by the author — more than")
    fix = model.score({**base, "fix": 1.0}).explanation[0]
    assert (fix.feature, fix.text) == ("fix", "a bug fix") and fix.contribution > 0


def test_scoring_with_medians_explains_nothing_and_is_medium_or_low(model: TrainedModel) -> None:
    typical = model.score(median_change(model))
    assert typical.explanation == []
    assert typical.level in {"low", "medium"}
    assert typical.imputed == () and typical.ignored == ()


def test_missing_features_are_imputed_and_said(model: TrainedModel) -> None:
    partial = model.score({"la": 300.0, "ld": None, "owner": 3.0})
    assert set(partial.imputed) == set(METRICS) - {"la"}
    assert partial.ignored == ("owner",)
    notes = [c for c in partial.explanation if c.imputed]
    assert len(notes) == 13 and all(c.contribution == 0.0 and c.value is None for c in notes)
    ld = next(c for c in notes if c.feature == "ld")
    assert ld.text.startswith("lines deleted not given — assumed typical: ")
    assert partial.explanation[0].feature == "la"
    empty = model.score({})
    assert empty.probability == pytest.approx(model.score(median_change(model)).probability)


def test_entrophy_is_accepted_as_entropy(model: TrainedModel) -> None:
    a = model.score({"entrophy": 2.5, "la": 40.0})
    b = model.score({"entropy": 2.5, "la": 40.0})
    assert a.probability == b.probability and "entropy" not in a.imputed


def test_levels_follow_the_training_budget(model: TrainedModel) -> None:
    rows, _, _ = synthetic_changes(2000, seed=3)
    levels = [model.score(r).level for r in rows]
    share = {name: levels.count(name) / len(levels) for name in set(levels)}
    assert share["very_high"] == pytest.approx(0.05, abs=0.025)
    assert share["very_high"] + share["high"] == pytest.approx(0.20, abs=0.04)
    assert share["low"] == pytest.approx(0.50, abs=0.06)


def test_round_trip_through_bytes_scores_identically(model: TrainedModel) -> None:
    again = TrainedModel.from_bytes(model.to_bytes())
    rows, _, _ = synthetic_changes(50, seed=4)
    assert again.version == model.version and again.metadata == model.metadata
    assert [again.score(r) for r in rows] == [model.score(r) for r in rows]


def test_garbage_bytes_are_not_a_model() -> None:
    with pytest.raises(InvalidInput, match="not a stored risk model"):
        TrainedModel.from_bytes(b"not a pickle")
    import pickle

    with pytest.raises(InvalidInput, match="not a stored risk model"):
        TrainedModel.from_bytes(pickle.dumps({"format": "something else"}))


def test_threshold_for_budget_gates_the_requested_share() -> None:
    scores = np.random.default_rng(5).random(1000)
    for fraction in (0.05, 0.1, 0.2, 1.0):
        assert (scores >= threshold_for_budget(scores, fraction)).sum() == round(1000 * fraction)
    assert threshold_for_budget([0.1, 0.9, 0.5], 0.1) == 0.9  # at least one change is gated
    assert threshold_for_budget([0.2, 0.5, 0.5, 0.5], 0.25) == 0.5  # ties at the cut gate too


@pytest.mark.parametrize(
    ("scores", "fraction", "message"),
    [
        ([], 0.1, "no scores"),
        ([0.1], 0.0, "budget"),
        ([0.1], 1.5, "budget"),
        ([math.nan], 0.1, "finite"),
    ],
)
def test_threshold_for_budget_rejects_bad_input(
    scores: list[float], fraction: float, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        threshold_for_budget(scores, fraction)


def test_small_histories_use_the_linear_model_alone() -> None:
    rows, labels, dates = synthetic_changes(300, seed=6)
    small = train(rows, labels, dates=dates)
    assert small.metadata["learners"] == {"logistic_regression": True, "boosted_tree_iterations": 0}
    scored = small.score({**rows[0], "la": 4000.0})
    assert scored.explanation[0].feature == "la" and 0 < scored.probability < 1


def test_tiny_histories_calibrate_on_the_training_rows() -> None:
    rows, _, dates = synthetic_changes(30, seed=13)
    labels = [1 if i % 10 == 0 else 0 for i in range(30)]  # 3 failures: too few to hold out
    tiny = train(rows, labels, dates=dates)
    fit = tiny.metadata["metrics"]
    assert isinstance(fit, dict) and fit["calibrated_on"] == "training rows"
    assert "holdout_auc" not in fit
    assert 0 < tiny.score(rows[0]).probability < 1


def test_missing_values_in_training_take_medians_and_absent_metrics_drop_out() -> None:
    rows, labels, dates = synthetic_changes(800, seed=7)
    for i, row in enumerate(rows):
        del row["sexp"]
        if i % 3 == 0:
            row["lt"] = None  # type: ignore[assignment]
    trained = train(rows, labels, dates=dates)
    assert "sexp" not in trained.features and "lt" in trained.features
    assert trained.score({"sexp": 3.0}).ignored == ("sexp",)


def test_training_orders_by_date() -> None:
    rows, labels, dates = synthetic_changes(600, seed=8)
    shuffled = np.random.default_rng(9).permutation(600)
    a = train(rows, labels, dates=dates)
    b = train(
        [rows[i] for i in shuffled],
        [labels[i] for i in shuffled],
        dates=[dates[i] for i in shuffled],
    )
    assert a.score(rows[0]).probability == pytest.approx(b.score(rows[0]).probability)


def test_assessment_shape_for_the_change_domain(model: TrainedModel) -> None:
    assessment = model.score({**median_change(model), "la": 5000.0}).as_assessment()
    assert isinstance(assessment, RiskAssessment)
    assert assessment.model_version == model.version
    assert assessment.explanation[0]["factor"] == "la"
    assert str(assessment.explanation[0]["detail"]).startswith("5,000 lines added")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0] * 40, r"label class 1 \(failing changes\) never occurs in the training data"),
        ([1] * 40, r"label class 0 \(changes that did not fail\) never occurs"),
        ([0, 2] * 20, "label 2: expected 0 or 1"),
        ([0, 1] * 10, "40 changes but 20 labels"),
    ],
)
def test_bad_training_input_is_refused(labels: list[int], message: str) -> None:
    rows, _, _ = synthetic_changes(40, seed=10)
    with pytest.raises(InvalidInput, match=message):
        train(rows, labels)


def test_non_numeric_values_are_refused(model: TrainedModel) -> None:
    rows, labels, _ = synthetic_changes(40, seed=11)
    rows[4]["la"] = "many"  # type: ignore[assignment]
    with pytest.raises(InvalidInput, match="row 5, la: expected a number, got 'many'"):
        train(rows, labels)
    with pytest.raises(InvalidInput, match="la: expected a number"):
        model.score({"la": "12"})
    with pytest.raises(InvalidInput, match="no training changes"):
        train([], [])
    with pytest.raises(InvalidInput, match="2 dates for 40 changes"):
        train(synthetic_changes(40, seed=12)[0], labels, dates=[1.0, 2.0])


def test_training_matrix_without_any_metric_values_is_refused() -> None:
    x = np.full((10, 2), np.nan)
    with pytest.raises(InvalidInput, match="no change metric has a value"):
        train_matrix(x, [0, 1] * 5, ["la", "ld"])


def _matrix(rows: Rows) -> np.ndarray:
    return np.array([[r[m] for m in METRICS] for r in rows])
