"""Built-in HTTP probes against real local servers: runs, alerts through intake, SLO figures."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from flywheel.app import create_app
from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.incident import probe_runner
from flywheel.incident.models import Alert, Incident
from flywheel.incident.probe_models import Probe, ProbeRun
from tests.factories import Person, make_ci, make_person, make_probe
from tests.probe_targets import serving


@pytest.fixture
def operator(db: Database) -> Person:
    return make_person(db, Role.OPERATOR, username="olga")


@pytest.fixture
def services(db: Database) -> None:
    with db.session(write=True) as session:
        for key in ("checkout", "search", "catalog"):
            make_ci(session, key, "business_service", criticality=2)
        session.commit()


def _create(client: TestClient, who: Person, **body: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/probes", json=body, headers=who.headers)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def _run(client: TestClient, who: Person, name: str) -> dict[str, Any]:
    answer = client.post(f"/api/v1/probes/{name}/run", headers=who.headers)
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()
    return run


def _probe_alerts(db: Database) -> dict[str, Alert]:
    with db.session() as session:
        found = session.scalars(select(Alert).where(Alert.source == "probe"))
        return {a.labels["probe"]: a for a in found}


def _incident_of(db: Database, alert: Alert) -> Incident:
    with db.session() as session:
        incident = session.get(Incident, alert.incident_id)
        assert incident is not None
        return incident


def test_probe_definitions_are_validated_versioned_and_idempotent(
    client: TestClient, operator: Person
) -> None:
    body = {"name": "shop-home", "ci_key": "shop", "url": "http://127.0.0.1:1/"}
    key = {"Idempotency-Key": "probe-create-1", **operator.headers}
    first = client.post("/api/v1/probes", json=body, headers=key)
    again = client.post("/api/v1/probes", json=body, headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json()["id"] == again.json()["id"]
    assert client.post("/api/v1/probes", json=body, headers=operator.headers).status_code == 409

    bad = {
        "expected_status": "2xx",
        "method": "POST",
        "url": "not a url",
        "interval_s": 1,
    }
    for field, value in bad.items():
        answer = client.post(
            "/api/v1/probes",
            json={**body, "name": f"b-{field}", field: value},
            headers=operator.headers,
        )
        assert answer.status_code == 422, (field, answer.text)
        assert field in answer.text
    slow = {**body, "name": "slow", "interval_s": 10, "timeout_s": 10}
    answer = client.post("/api/v1/probes", json=slow, headers=operator.headers)
    assert answer.status_code == 422 and "timeout_s" in answer.text

    url = "/api/v1/probes/shop-home"
    changed = client.patch(
        url, json={"version": 1, "expected_status": "200, 204-299"}, headers=operator.headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["expected_status"], changed.json()["version"]) == ("200,204-299", 2)
    stale = client.patch(url, json={"version": 1, "enabled": False}, headers=operator.headers)
    assert stale.status_code == 409
    too_slow = client.patch(url, json={"version": 2, "timeout_s": 90}, headers=operator.headers)
    assert too_slow.status_code == 409 and "interval_s" in too_slow.text
    listed = client.get("/api/v1/probes?ci_key=shop", headers=operator.headers).json()
    assert [p["name"] for p in listed] == ["shop-home"]
    gone = client.delete(f"{url}?version=1", headers=operator.headers)
    assert gone.status_code == 409
    assert client.delete(f"{url}?version=2", headers=operator.headers).status_code == 200
    assert client.get(url, headers=operator.headers).status_code == 404


def test_healthy_failing_and_hanging_servers_become_results_and_alerts(
    client: TestClient, db: Database, operator: Person, services: None
) -> None:
    with serving("ok") as healthy, serving("fail") as broken, serving("hang") as hanging:
        _create(
            client,
            operator,
            name="catalog",
            ci_key="catalog",
            url=healthy.url,
            body_contains="healthy",
        )
        _create(client, operator, name="checkout", ci_key="checkout", url=broken.url)
        _create(
            client,
            operator,
            name="search",
            ci_key="search",
            url=hanging.url,
            method="HEAD",
            timeout_s=0.5,
        )
        ran = client.post("/api/v1/probe-runs", headers=operator.headers)
        assert ran.status_code == 200, ran.text
        runs = {r["probe"]: r for r in ran.json()["ran"]}
        assert (runs["catalog"]["ok"], runs["catalog"]["status_code"]) == (True, 200)
        assert runs["catalog"]["latency_ms"] > 0
        assert runs["checkout"]["ok"] is False
        assert runs["checkout"]["error"] == "unexpected status 500"
        assert runs["search"]["error"] == "no answer within 0.5s"
        assert runs["search"]["status_code"] is None
        # Not due again until their interval has passed.
        again = client.post("/api/v1/probe-runs", headers=operator.headers).json()
        assert again["ran"] == []

        alerts = _probe_alerts(db)
        assert set(alerts) == {"checkout", "search"}
        checkout = alerts["checkout"]
        assert checkout.status == "firing" and checkout.ci_key == "checkout"
        incident = _incident_of(db, checkout)
        assert (incident.service, incident.state) == ("checkout", "triggered")

        broken.mode = "ok"
        assert _run(client, operator, "checkout")["ok"] is True
        assert _probe_alerts(db)["checkout"].status == "resolved"
        assert _incident_of(db, checkout).state == "resolved"
        assert _probe_alerts(db)["search"].status == "firing"

    shown = client.get("/api/v1/probes/checkout", headers=operator.headers).json()
    assert [r["ok"] for r in shown["recent"]] == [True, False]
    assert shown["availability"] == 0.5
    assert (shown["alerting"], shown["consecutive_failures"]) == (False, 0)


def test_an_alert_waits_for_n_consecutive_failures(
    client: TestClient, db: Database, operator: Person, services: None
) -> None:
    with serving("fail") as broken:
        _create(
            client,
            operator,
            name="checkout",
            ci_key="checkout",
            url=broken.url,
            failures_to_alert=3,
        )
        for _ in range(2):
            assert _run(client, operator, "checkout")["ok"] is False
        assert _probe_alerts(db) == {}
        broken.mode = "ok"
        _run(client, operator, "checkout")  # a success resets the count
        broken.mode = "fail"
        for _ in range(2):
            _run(client, operator, "checkout")
        assert _probe_alerts(db) == {}
        _run(client, operator, "checkout")
        assert _probe_alerts(db)["checkout"].status == "firing"
        _run(client, operator, "checkout")  # still failing: the same alert, no new incident
    with db.session() as session:
        assert len(list(session.scalars(select(Incident)))) == 1


def test_probe_results_give_an_slo_its_availability(
    client: TestClient, db: Database, operator: Person, services: None
) -> None:
    with serving("ok") as target:
        _create(client, operator, name="checkout", ci_key="checkout", url=target.url)
        for mode in ("ok", "fail", "ok", "ok"):
            target.mode = mode
            _run(client, operator, "checkout")
    slo = {"service": "checkout", "name": "avail", "objective": 99.0, "source": "probes"}
    made = client.post("/api/v1/slos", json=slo, headers=operator.headers)
    assert made.status_code == 201, made.text
    status = client.get(f"/api/v1/slos/{made.json()['id']}/status", headers=operator.headers)
    availability = status.json()["objectives"][0]
    assert (availability["good"], availability["total"]) == (3, 4)
    assert availability["status"] != "no data"


def test_two_workers_claim_each_due_probe_once(db: Database, settings: Settings) -> None:
    for n in range(20):
        make_probe(db, f"p{n}", "checkout", "http://127.0.0.1:9/", interval_s=60)
    now = utcnow() + timedelta(seconds=1)
    claims: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def worker(index: int) -> None:
        start.wait()
        claims[index] = [c.probe_id for c in probe_runner.claim_due(db, now=now)]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    both = claims[0] + claims[1]
    assert sorted(both) == sorted(set(both)) and len(both) == 20
    assert probe_runner.claim_due(db, now=now) == []
    with db.session() as session:
        slots = set(session.scalars(select(Probe.next_run_at)))
        assert all(s > now for s in slots)
        assert session.scalars(select(ProbeRun)).first() is None


def test_disabling_or_removing_a_failing_probe_resolves_its_alert(
    client: TestClient, db: Database, operator: Person, services: None
) -> None:
    with serving("fail") as broken:
        _create(client, operator, name="checkout", ci_key="checkout", url=broken.url)
        _create(client, operator, name="search", ci_key="search", url=broken.url)
        _run(client, operator, "checkout")
        _run(client, operator, "search")
    assert {a.status for a in _probe_alerts(db).values()} == {"firing"}

    off = client.patch(
        "/api/v1/probes/checkout", json={"version": 1, "enabled": False}, headers=operator.headers
    )
    assert off.status_code == 200, off.text
    assert (off.json()["version"], off.json()["alerting"]) == (2, False)
    assert _probe_alerts(db)["checkout"].status == "resolved"

    stale = client.delete("/api/v1/probes/search?version=7", headers=operator.headers)
    assert stale.status_code == 409
    assert _probe_alerts(db)["search"].status == "firing"
    gone = client.delete("/api/v1/probes/search?version=1", headers=operator.headers)
    assert gone.status_code == 200, gone.text
    search = _probe_alerts(db)["search"]
    assert search.status == "resolved"
    assert _incident_of(db, search).state == "resolved"


def test_the_server_runs_due_probes_when_asked_to(
    settings: Settings, db: Database, services: None
) -> None:
    serving_settings = settings.model_copy(update={"probe_worker": True, "probe_poll_seconds": 0.1})
    with serving("ok") as target:
        make_probe(db, "catalog", "catalog", target.url, interval_s=3600)
        with TestClient(create_app(serving_settings, db)):
            deadline = time.monotonic() + 30
            while target.hits == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # a second pass finds nothing due
    with db.session() as session:
        runs = list(session.scalars(select(ProbeRun)))
    assert [(r.ok, r.status_code) for r in runs] == [(True, 200)]
    assert target.hits == 1
