"""Stored risk models: train on real labelled changes, promote after comparing, score changes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.db import Database
from flywheel.risk import registry
from flywheel.risk.dataset import read_changes
from tests.factories import SYSTEM, make_ci, make_person
from tests.support import require_component

QT = (
    Path(__file__).resolve().parents[3]
    / ".."
    / "shared"
    / "data"
    / "jit-changes"
    / "qt_k_feature.csv"
)


@pytest.fixture(scope="module")
def qt_sample() -> tuple[list[dict[str, object]], list[int], list[float]]:
    """The first 3,000 real Qt changes (time order) with their defect labels."""
    require_component(QT.exists(), f"the real change data is missing: {QT}")
    table = read_changes(QT, label="bug")
    count = 3000
    rows: list[dict[str, object]] = [
        {m: float(v) for m, v in zip(table.metrics, table.x[i], strict=True)} for i in range(count)
    ]
    assert table.dates is not None
    return rows, [int(y) for y in table.labels[:count]], [float(d) for d in table.dates[:count]]


def store(
    db: Database, rows: list[dict[str, object]], labels: list[int], dates: list[float]
) -> str:
    with db.session(write=True) as session:
        row = registry.train_and_store(
            session, actor=SYSTEM, rows=rows, labels=labels, dates=dates, source="qt sample"
        )
        session.commit()
        return row.version


def test_without_a_model_the_rules_score(client: TestClient, db: Database) -> None:
    dev = make_person(db)
    scored = client.post("/api/v1/risk/score", json={"metrics": {"la": 10}}, headers=dev.headers)
    assert scored.status_code == 200
    assert scored.json()["model_version"] == "rules-1"
    bad = client.post("/api/v1/risk/score", json={"metrics": {"la": "lots"}}, headers=dev.headers)
    assert bad.status_code == 422


def test_too_little_history_keeps_the_rules(client: TestClient, db: Database) -> None:
    cm = make_person(db, Role.CHANGE_MANAGER)
    response = client.post("/api/v1/risk/models", json={"months": 6}, headers=cm.headers)
    assert response.status_code == 422
    assert "not enough labelled history" in response.json()["error"]["message"]


def test_a_promoted_model_scores_changes(
    client: TestClient,
    db: Database,
    qt_sample: tuple[list[dict[str, object]], list[int], list[float]],
) -> None:
    cm = make_person(db, Role.CHANGE_MANAGER)
    dev = make_person(db)
    version = store(db, *qt_sample)
    listed = client.get("/api/v1/risk/models", headers=dev.headers).json()
    assert listed[0]["version"] == version and listed[0]["status"] == "candidate"
    assert 0.6 < listed[0]["metadata"]["metrics"]["holdout_auc"] <= 1
    promoted = client.post(f"/api/v1/risk/models/{version}/promote", headers=cm.headers)
    assert promoted.status_code == 200 and promoted.json()["status"] == "active"
    big = {"la": 5000, "ld": 900, "nf": 60, "ns": 4, "nd": 12, "entropy": 0.9, "lt": 20000}
    small = {"la": 2, "ld": 1, "nf": 1, "ns": 1, "nd": 1, "entropy": 0.0, "lt": 100}
    risky = client.post("/api/v1/risk/score", json={"metrics": big}, headers=dev.headers).json()
    safe = client.post("/api/v1/risk/score", json={"metrics": small}, headers=dev.headers).json()
    assert risky["model_version"] == version
    assert risky["score"] > safe["score"]
    assert risky["explanation"][0]["factor"] == "la"
    assert "5,000 lines added" in risky["explanation"][0]["detail"]
    with db.session(write=True) as session:
        make_ci(session, "shop", "business_service", criticality=4)
        session.commit()
    change = client.post(
        "/api/v1/changes",
        json={"service": "shop", "title": "deploy", "code_metrics": big},
        headers=dev.headers,
    ).json()
    assert change["risk_model_version"] == version
    assert change["risk_score"] == pytest.approx(risky["score"], abs=1e-4)


def test_a_worse_candidate_is_not_promoted_unless_forced(
    client: TestClient,
    db: Database,
    qt_sample: tuple[list[dict[str, object]], list[int], list[float]],
) -> None:
    cm = make_person(db, Role.CHANGE_MANAGER)
    rows, labels, dates = qt_sample
    good = store(db, rows, labels, dates)
    client.post(f"/api/v1/risk/models/{good}/promote", headers=cm.headers)
    shuffled = labels[:]
    random.Random(7).shuffle(shuffled)
    noise = store(db, rows, shuffled, dates)
    refused = client.post(f"/api/v1/risk/models/{noise}/promote", headers=cm.headers)
    assert refused.status_code == 409
    assert "worse on held-out data" in refused.json()["error"]["message"]
    forced = client.post(f"/api/v1/risk/models/{noise}/promote?force=true", headers=cm.headers)
    assert forced.status_code == 200
    statuses = {
        m["version"]: m["status"]
        for m in client.get("/api/v1/risk/models", headers=cm.headers).json()
    }
    assert statuses == {good: "retired", noise: "active"}
    dev = make_person(db)
    assert (
        client.post(f"/api/v1/risk/models/{good}/promote", headers=dev.headers).status_code == 403
    )
