"""Burn-rate alerts reach the incident domain as the app installs it, and resolve with the burn."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from flywheel.db import Database, utcnow
from flywheel.incident import slo_providers
from flywheel.slo import sources
from tests.factories import Bake, Person, record_deployment, record_incident

FAST_BURN = {("page", "1h/5m"), ("page", "6h/30m")}


def _bad_traffic(db: Database, now: datetime) -> None:
    """A steady day, then 5 % errors in the last minutes: 50x a 99.9 % budget."""
    with db.session(write=True) as session:
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


def _good_traffic(db: Database, at: datetime) -> None:
    """A million clean requests: every window burns well under 1x again."""
    with db.session(write=True) as session:
        record_deployment(
            session,
            service="shop",
            started_at=at - timedelta(minutes=2),
            finished_at=at,
            bakes=[Bake(at - timedelta(seconds=30), 1_000_000)],
        )
        session.commit()


def _evaluate(client: TestClient, operator: Person) -> dict[str, object]:
    answer = client.post("/api/v1/slos/alerts/evaluate", json={}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def _incidents(client: TestClient, operator: Person) -> list[dict[str, object]]:
    answer = client.get("/api/v1/incidents", params={"service": "shop"}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()["items"]
    return items


def test_app_installs_the_incident_providers(installed: sources.Registry) -> None:
    assert installed.downtime["incidents"] is slo_providers.p1_downtime
    assert installed.open_incidents["incidents"] is slo_providers.open_incidents
    assert "incidents" in installed.alert_sinks


def test_fast_burn_opens_a_p1_from_the_cmdb_and_resolves_when_the_burn_stops(
    client: TestClient, db: Database, operator: Person, installed: sources.Registry
) -> None:
    now = utcnow()
    _bad_traffic(db, now)
    slo = {"service": "shop", "name": "avail", "objective": 99.9, "source": "deployments"}
    assert client.post("/api/v1/slos", json=slo, headers=operator.headers).status_code == 201

    fired = _evaluate(client, operator)
    assert fired["sinks"] == ["incidents"]
    alerts = fired["alerts"]
    assert isinstance(alerts, list)
    page = {(a["severity"], f"{a['long_window']}/{a['short_window']}") for a in alerts}
    assert page >= FAST_BURN
    [incident] = _incidents(client, operator)
    # shop is a business service of criticality 1, down: high impact; a page is high urgency.
    assert incident["state"] == "triggered"
    assert incident["priority"] == "P1"
    impact = incident["impact"]
    assert isinstance(impact, dict) and impact["known"] is True and impact["level"] == "high"
    assert incident["firing_count"] == len(alerts)
    detail = client.get(f"/api/v1/incidents/{incident['id']}", headers=operator.headers).json()
    assert {a["fingerprint"] for a in detail["alerts"]} == {a["fingerprint"] for a in alerts}
    assert all(a["alertname"] == "ErrorBudgetBurn" for a in detail["alerts"])

    # Evaluated again while burning: the same alerts, deduplicated, no second incident.
    _evaluate(client, operator)
    assert [i["id"] for i in _incidents(client, operator)] == [incident["id"]]

    _good_traffic(db, utcnow())
    calm = _evaluate(client, operator)
    assert calm["alerts"] == []
    assert set(calm["quiet"]) >= {a["fingerprint"] for a in alerts}  # type: ignore[arg-type]
    [after] = _incidents(client, operator)
    assert after["state"] == "resolved" and after["firing_count"] == 0
    detail = client.get(f"/api/v1/incidents/{incident['id']}", headers=operator.headers).json()
    assert {a["status"] for a in detail["alerts"]} == {"resolved"}


def test_no_data_resolves_nothing(
    client: TestClient, db: Database, operator: Person, installed: sources.Registry
) -> None:
    slo = {"service": "cart", "name": "avail", "objective": 99.9, "source": "deployments"}
    assert client.post("/api/v1/slos", json=slo, headers=operator.headers).status_code == 201
    body = _evaluate(client, operator)
    assert body["alerts"] == [] and body["quiet"] == []


def test_p1_downtime_runs_from_detection_to_rollback_or_resolution(
    db: Database, operator: Person
) -> None:
    start = utcnow() - timedelta(days=3)
    m = timedelta(minutes=1)
    with db.session(write=True) as session:
        rolled = record_incident(
            session,
            service="shop",
            priority=1,
            opened_at=start + 10 * m,
            resolved_at=start + 90 * m,
            rollback_at=start + 25 * m,
        )
        fixed = record_incident(
            session,
            service="shop",
            priority=1,
            opened_at=start + 200 * m,
            resolved_at=start + 230 * m,
        )
        record_incident(session, service="shop", priority=2, opened_at=start + 300 * m)
        record_incident(session, service="cart", priority=1, opened_at=start + 300 * m)
        session.commit()
        found = slo_providers.p1_downtime(
            session, service="shop", start=start + 20 * m, end=start + 1000 * m
        )
        counts = slo_providers.open_incidents(session)
    assert [(b.start, b.end) for b in found.bad] == [
        (start + 20 * m, start + 25 * m),  # clipped to the range, mitigated by the rollback
        (start + 200 * m, start + 230 * m),
    ]
    assert list(found.causes) == [f"{rolled.number} P1", f"{fixed.number} P1"]
    assert [(c.start, c.end) for c in found.covered] == [(start + 20 * m, start + 1000 * m)]
    assert counts == {"P1": 1, "P2": 1, "P3": 0, "P4": 0}


def test_slos_on_incident_downtime_raise_no_alerts_that_would_keep_the_incident_open(
    client: TestClient, db: Database, operator: Person, installed: sources.Registry
) -> None:
    now = utcnow()
    with db.session(write=True) as session:
        record_incident(session, service="shop", priority=1, opened_at=now - timedelta(minutes=30))
        session.commit()
    slo = {"service": "shop", "name": "up", "objective": 99.9, "source": "incidents"}
    created = client.post("/api/v1/slos", json=slo, headers=operator.headers)
    assert created.status_code == 201, created.text
    status = client.get(f"/api/v1/slos/{created.json()['id']}/status", headers=operator.headers)
    assert status.json()["status"] == "at risk"  # 30 minutes down of a 43-minute budget
    assert any(a["status"] == "firing" for a in status.json()["objectives"][0]["alerts"])
    body = _evaluate(client, operator)
    assert body["alerts"] == [] and body["quiet"] == []
    assert len(_incidents(client, operator)) == 1
