"""SLOs through the API: definitions, bad input, and status from each SLI source."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flywheel.db import Database, utcnow
from tests.factories import Bake, Person, record_deployment

SLO = {"service": "shop", "name": "availability", "objective": 99.9, "source": "deployments"}


def _create(client: TestClient, who: Person, **body: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/slos", json={**SLO, **body}, headers=who.headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _status(client: TestClient, who: Person, slo_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/v1/slos/{slo_id}/status", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_an_slo_is_created_with_the_default_alert_rules(
    client: TestClient, operator: Person
) -> None:
    made = _create(client, operator)
    assert made["method"] == "events"
    assert made["window_kind"] == "rolling"
    assert made["window_days"] == 30
    rules = [
        (r["severity"], r["burn_rate"], r["long_window"], r["short_window"])
        for r in made["alert_rules"]
    ]
    assert rules == [
        ("page", 14.4, "1h", "5m"),
        ("page", 6.0, "6h", "30m"),
        ("ticket", 3.0, "1d", "2h"),
        ("ticket", 1.0, "3d", "6h"),
    ]
    listed = client.get("/api/v1/slos?service=shop", headers=operator.headers).json()
    assert [s["id"] for s in listed["items"]] == [made["id"]]
    again = client.post("/api/v1/slos", json=SLO, headers=operator.headers)
    assert again.status_code == 409
    assert "already has an SLO" in again.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"objective": 100}, "between 0 and 100"),
        ({"objective": 0}, "between 0 and 100"),
        ({"objective": 100.5}, "between 0 and 100"),
        ({"objective": -3}, "between 0 and 100"),
        ({"window": {"kind": "rolling", "days": 0}}, "days"),
        ({"window": {"kind": "calendar_month", "days": 30}}, "takes no 'days'"),
        ({"service": "nowhere"}, "unknown service 'nowhere'"),
        ({"service": "db1"}, "not a service"),
        ({"source": "incidents", "method": "events"}, "counts time_slices"),
        ({"latency": {"threshold_ms": 300, "objective": 99}}, "measures no latency"),
        ({"source": "prometheus"}, "go with (and only with)"),
        (
            {"source": "prometheus", "prometheus": {"good": "sum(up)", "total": "count(up)"}},
            "$window",
        ),
        (
            {
                "alert_rules": [
                    {"severity": "page", "burn_rate": 2, "long_window": "5m", "short_window": "1h"}
                ]
            },
            "shorter than its long",
        ),
        (
            {
                "alert_rules": [
                    {"severity": "page", "burn_rate": 2, "long_window": "0h", "short_window": "5m"}
                ]
            },
            "zero length",
        ),
        ({"slice_seconds": 0}, "slice_seconds"),
    ],
)
def test_bad_definitions_are_refused_with_the_reason(
    client: TestClient, operator: Person, body: dict[str, Any], message: str
) -> None:
    answer = client.post("/api/v1/slos", json={**SLO, **body}, headers=operator.headers)
    assert answer.status_code == 422, answer.text
    assert message in answer.text
    assert client.get("/api/v1/slos", headers=operator.headers).json()["items"] == []


def _history(db: Database, now: datetime) -> None:
    with db.session(write=True) as session:
        # Inside the 30-day period: 101,500 requests of which 32 failed.
        record_deployment(
            session,
            service="shop",
            started_at=now - timedelta(days=10, minutes=5),
            finished_at=now - timedelta(days=10),
            bakes=[Bake(now - timedelta(days=10), 60_000, 12, 40_000, 8)],
        )
        record_deployment(
            session,
            service="shop",
            started_at=now - timedelta(hours=3, minutes=5),
            finished_at=now - timedelta(hours=3),
            bakes=[Bake(now - timedelta(hours=3), 1_000, 2)],
        )
        record_deployment(
            session,
            service="shop",
            state="running",
            started_at=now - timedelta(minutes=5),
            finished_at=None,
            bakes=[Bake(now - timedelta(minutes=2), 300, 10, 200, 0)],
        )
        # Not counted: before the period, another environment, another service.
        record_deployment(
            session,
            service="shop",
            started_at=now - timedelta(days=41),
            finished_at=now - timedelta(days=40),
            bakes=[Bake(now - timedelta(days=40), 1_000, 1_000)],
        )
        record_deployment(
            session,
            service="shop",
            environment="staging",
            started_at=now - timedelta(hours=1),
            finished_at=now - timedelta(minutes=50),
            bakes=[Bake(now - timedelta(minutes=50), 1_000, 900)],
        )
        record_deployment(
            session,
            service="cart",
            started_at=now - timedelta(hours=1),
            finished_at=now - timedelta(minutes=50),
            bakes=[Bake(now - timedelta(minutes=50), 1_000, 900)],
        )
        session.commit()


def test_status_from_deployment_traffic_matches_hand_computed_figures(
    client: TestClient, db: Database, operator: Person
) -> None:
    _history(db, utcnow())
    slo = _create(client, operator)
    status = _status(client, operator, slo["id"])
    availability = status["objectives"][0]
    assert availability["kind"] == "availability"
    assert (availability["good"], availability["total"]) == (101_468, 101_500)
    budget = availability["budget"]
    assert budget["allowed"] == pytest.approx(101.5)
    assert budget["consumed"] == 32
    assert budget["consumed_fraction"] == pytest.approx(32 / 101.5)
    assert budget["remaining_fraction"] == pytest.approx(1 - 32 / 101.5)
    assert budget["spent"] is False
    assert availability["sli"] == pytest.approx(101_468 / 101_500 * 100)
    burns = {b["window"]: b["burn_rate"] for b in availability["burn_rates"]}
    # The last 5 min to 2 h see only the running deployment: 10/500 = 2 % = 20x a 0.1 % budget;
    # 6 h to 3 d add the 3-hour-old one: 12/1,500 = 0.8 % = 8x.
    assert burns == pytest.approx(
        {"5m": 20, "30m": 20, "1h": 20, "2h": 20, "6h": 8, "1d": 8, "3d": 8}
    )
    assert [a["status"] for a in availability["alerts"]] == ["firing"] * 4
    assert status["status"] == availability["status"] == "at risk"


def test_a_failed_bake_counts_and_spends_the_budget(
    client: TestClient, db: Database, operator: Person
) -> None:
    now = utcnow()
    with db.session(write=True) as session:
        record_deployment(
            session,
            service="cart",
            started_at=now - timedelta(days=5, minutes=5),
            finished_at=now - timedelta(days=5),
            bakes=[Bake(now - timedelta(days=5), 1_000)],
        )
        record_deployment(
            session,
            service="cart",
            state="rolled_back",
            started_at=now - timedelta(minutes=30),
            finished_at=now - timedelta(minutes=20),
            bakes=[Bake(now - timedelta(minutes=25), 100, 50, state="failed")],
        )
        session.commit()
    _create(client, operator, service="cart")
    answer = client.get("/api/v1/services/cart/slo-status", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    availability = body["slos"][0]["objectives"][0]
    assert (availability["good"], availability["total"]) == (1_050, 1_100)
    assert availability["budget"]["consumed_fraction"] == pytest.approx(50 / 1.1)
    assert availability["status"] == "budget spent"
    assert body["budget_spent"] is True
    assert body["status"] == "budget spent"


def test_no_traffic_is_no_data_not_a_hundred_percent(client: TestClient, operator: Person) -> None:
    slo = _create(client, operator)
    availability = _status(client, operator, slo["id"])["objectives"][0]
    assert availability["status"] == "no data"
    assert availability["sli"] is None
    assert availability["budget"] is None
    assert all(b["burn_rate"] is None for b in availability["burn_rates"])
    assert {a["status"] for a in availability["alerts"]} == {"no data"}
    assert "no production deployment traffic" in availability["note"]


def test_unknown_slo_and_service_are_404(client: TestClient, operator: Person) -> None:
    assert client.get("/api/v1/slos/999/status", headers=operator.headers).status_code == 404
    missing = client.get("/api/v1/services/nowhere/slo-status", headers=operator.headers)
    assert missing.status_code == 404
    empty = client.get("/api/v1/services/shop/slo-status", headers=operator.headers).json()
    assert (empty["slos"], empty["status"], empty["budget_spent"]) == ([], "no data", False)
