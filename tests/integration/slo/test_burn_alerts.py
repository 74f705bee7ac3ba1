"""Burn-rate alerts reach the incident domain through the alert-sink registry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flywheel.db import Database, utcnow
from flywheel.slo import sources
from flywheel.slo.sources import AlertRound, BurnAlert
from tests.factories import Bake, Person, record_deployment


def test_firing_alerts_are_raised_into_the_registered_intake(
    client: TestClient, db: Database, operator: Person, registry: sources.Registry
) -> None:
    now = utcnow()
    with db.session(write=True) as session:
        # A steady day, then the last 20 minutes failing 5 % of requests: 50x a 0.1 % budget.
        record_deployment(
            session,
            service="shop",
            started_at=now - timedelta(days=1),
            finished_at=now - timedelta(days=1),
            bakes=[Bake(now - timedelta(days=1), 100_000)],
        )
        record_deployment(
            session,
            service="shop",
            state="running",
            started_at=now - timedelta(minutes=20),
            finished_at=None,
            bakes=[Bake(now - timedelta(minutes=3), 2_000, 100)],
        )
        session.commit()
    slo = {"service": "shop", "name": "avail", "objective": 99.9, "source": "deployments"}
    assert client.post("/api/v1/slos", json=slo, headers=operator.headers).status_code == 201
    received: list[BurnAlert] = []

    def intake(session: Session, found: AlertRound) -> None:
        received.extend(found.firing)

    sources.register_alert_sink("test-sink", intake)
    answer = client.post("/api/v1/slos/alerts/evaluate", json={}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["sinks"] == ["test-sink"]
    pages = [a for a in body["alerts"] if a["severity"] == "page"]
    assert [(a["long_window"], a["short_window"]) for a in pages] == [("1h", "5m"), ("6h", "30m")]
    assert {a.fingerprint for a in received} == {a["fingerprint"] for a in body["alerts"]}
    first = received[0]
    assert first.fingerprint.startswith(f"slo:{first.slo_id}:availability:page:1h")
    assert first.labels["alertname"] == "ErrorBudgetBurn"
    assert first.long_burn == pytest.approx(50.0)
    assert "burns its error budget 50.0x over 1h" in first.summary
    # Evaluating again raises the same fingerprints: the intake deduplicates them.
    again = client.post(
        "/api/v1/slos/alerts/evaluate", json={"service": "shop"}, headers=operator.headers
    )
    assert [a["fingerprint"] for a in again.json()["alerts"]] == [
        a["fingerprint"] for a in body["alerts"]
    ]


def test_quiet_services_raise_nothing_and_unknown_ones_are_404(
    client: TestClient, operator: Person, registry: sources.Registry
) -> None:
    slo = {"service": "cart", "name": "avail", "objective": 99.9, "source": "deployments"}
    client.post("/api/v1/slos", json=slo, headers=operator.headers)
    quiet = client.post(
        "/api/v1/slos/alerts/evaluate", json={"service": "cart"}, headers=operator.headers
    )
    assert quiet.status_code == 200 and quiet.json()["alerts"] == []
    missing = client.post(
        "/api/v1/slos/alerts/evaluate", json={"service": "nowhere"}, headers=operator.headers
    )
    assert missing.status_code == 404
