"""SLI sources via the API: incident downtime, probes, Prometheus over HTTP, calendar months."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flywheel.config import Settings
from flywheel.db import utcnow
from flywheel.slo import sources
from flywheel.slo.slices import Interval
from flywheel.slo.sources import Downtime, ProbeResult
from tests.factories import Person
from tests.integration.slo.conftest import minute_floor
from tests.support import free_port


def _create(client: TestClient, who: Person, **body: Any) -> int:
    base = {"service": "shop", "name": "avail", "objective": 99.99}
    answer = client.post("/api/v1/slos", json={**base, **body}, headers=who.headers)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def _objectives(client: TestClient, who: Person, slo_id: int) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/slos/{slo_id}/status", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["objectives"])


def test_incidents_without_a_provider_say_no_data(
    client: TestClient, operator: Person, registry: sources.Registry
) -> None:
    slo_id = _create(client, operator, source="incidents")
    availability = _objectives(client, operator, slo_id)[0]
    assert availability["status"] == "no data"
    assert availability["budget"] is None
    assert availability["note"] == "no incident source is registered"


def test_a_ten_minute_p1_spends_a_four_nines_month(
    client: TestClient, operator: Person, registry: sources.Registry
) -> None:
    down_from = minute_floor(utcnow()) - timedelta(days=2)
    asked: list[tuple[str, datetime, datetime]] = []

    def p1_downtime(session: Session, *, service: str, start: datetime, end: datetime) -> Downtime:
        asked.append((service, start, end))
        bad = [Interval(down_from, down_from + timedelta(minutes=10))] if service == "shop" else []
        return Downtime(bad=bad, covered=[Interval(start, end)])

    sources.register_downtime("test-incidents", p1_downtime)
    slo_id = _create(client, operator, source="incidents")
    availability = _objectives(client, operator, slo_id)[0]
    assert availability["unit"] == "slices"
    # 30 days of one-minute slices = 43,200; 10 of them bad; the budget is 4.32 minutes.
    assert (availability["good"], availability["total"]) == (43_190, 43_200)
    budget = availability["budget"]
    assert budget["allowed_minutes"] == pytest.approx(4.32)
    assert budget["consumed_minutes"] == pytest.approx(10)
    assert budget["remaining_minutes"] == pytest.approx(-5.68)
    assert budget["consumed_fraction"] == pytest.approx(10 / 4.32)
    assert availability["status"] == "budget spent"
    burns = {b["window"]: b["burn_rate"] for b in availability["burn_rates"]}
    assert burns["1h"] == 0
    # 10 bad minutes of the last 3 days (4,320 minutes) over a 0.01 % budget: 23.15x.
    assert burns["3d"] == pytest.approx(10 / 4320 / 0.0001)
    assert asked and asked[0][0] == "shop"


def test_probes_count_availability_and_latency(
    client: TestClient, operator: Person, registry: sources.Registry
) -> None:
    now = utcnow()

    def probes(
        session: Session, *, service: str, start: datetime, end: datetime
    ) -> list[ProbeResult]:
        results = [
            ProbeResult(now - timedelta(minutes=m), ok=True, latency_ms=100.0) for m in range(1, 91)
        ]
        results += [
            ProbeResult(now - timedelta(minutes=m), ok=True, latency_ms=900.0) for m in (95, 96)
        ]
        results += [ProbeResult(now - timedelta(minutes=97), ok=False)]
        return [r for r in results if start <= r.at < end]

    sources.register_probes("test-probes", probes)
    slo_id = _create(
        client,
        operator,
        source="probes",
        objective=99.0,
        latency={"threshold_ms": 300, "objective": 95.0},
    )
    availability, latency = _objectives(client, operator, slo_id)
    assert (availability["good"], availability["total"]) == (92, 93)
    assert (latency["kind"], latency["threshold_ms"]) == ("latency", 300)
    assert (latency["good"], latency["total"]) == (90, 93)
    burns = {b["window"]: b["burn_rate"] for b in latency["burn_rates"]}
    assert burns["1h"] == 0  # the last hour's probes were all fast
    assert burns["2h"] == pytest.approx((3 / 93) / 0.05)


class _FakePrometheus(BaseHTTPRequestHandler):
    """Answers instant queries like Prometheus's HTTP API: counts keyed by the query's range."""

    good = {"30d": 999_900.0, "1h": 9_000.0}
    total = {"30d": 1_000_000.0, "1h": 10_000.0}
    seen: list[dict[str, list[str]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = parse_qs(url.query)
        type(self).seen.append(params)
        query = params["query"][0]
        window = query.split("[")[1].split("]")[0]
        table = self.good if query.startswith("sum(increase(ok") else self.total
        value = table.get(window)
        result = [] if value is None else [{"metric": {}, "value": [1.0, str(value)]}]
        body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        payload = json.dumps(body).encode()
        self.send_response(200 if url.path == "/api/v1/query" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def prometheus() -> Iterator[str]:
    """A local HTTP server speaking the Prometheus query API."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


QUERIES = {"good": "sum(increase(ok[$window]))", "total": "sum(increase(all[$window]))"}


def test_prometheus_counts_per_window(
    client: TestClient, operator: Person, settings: Settings, prometheus: str
) -> None:
    settings.prometheus_url = prometheus
    slo_id = _create(client, operator, source="prometheus", objective=99.9, prometheus=QUERIES)
    availability = _objectives(client, operator, slo_id)[0]
    assert (availability["good"], availability["total"]) == (999_900, 1_000_000)
    assert availability["budget"]["consumed_fraction"] == pytest.approx(0.1)
    burns = {b["window"]: b["burn_rate"] for b in availability["burn_rates"]}
    assert burns["1h"] == pytest.approx(100.0)  # 10 % errors over a 0.1 % budget
    assert burns["5m"] is None  # Prometheus returned no sample for 5m: no data, not zero
    assert availability["alerts"][0]["status"] == "no data"
    assert any("sum(increase(ok[30d]))" in p["query"] for p in _FakePrometheus.seen)
    assert all("time" in p for p in _FakePrometheus.seen)


def test_unreachable_prometheus_is_no_data_never_a_fake_hundred_percent(
    client: TestClient, operator: Person, settings: Settings
) -> None:
    settings.prometheus_url = f"http://127.0.0.1:{free_port()}"
    slo_id = _create(client, operator, source="prometheus", prometheus=QUERIES)
    availability = _objectives(client, operator, slo_id)[0]
    assert availability["status"] == "no data"
    assert availability["sli"] is None
    assert availability["note"].startswith("Prometheus at http://127.0.0.1")


def test_prometheus_not_configured_is_no_data(client: TestClient, operator: Person) -> None:
    slo_id = _create(client, operator, source="prometheus", prometheus=QUERIES)
    availability = _objectives(client, operator, slo_id)[0]
    assert availability["status"] == "no data"
    assert "FLYWHEEL_PROMETHEUS_URL" in availability["note"]


def test_calendar_month_budget_is_fixed_for_the_whole_month(
    client: TestClient, operator: Person, registry: sources.Registry
) -> None:
    def no_downtime(session: Session, *, service: str, start: datetime, end: datetime) -> Downtime:
        return Downtime(bad=[], covered=[Interval(start, end)])

    sources.register_downtime("test-incidents", no_downtime)
    slo_id = _create(client, operator, source="incidents", window={"kind": "calendar_month"})
    answer = client.get(f"/api/v1/slos/{slo_id}/status", headers=operator.headers).json()
    start = datetime.fromisoformat(answer["period"]["start"])
    period_end = datetime.fromisoformat(answer["period"]["period_end"])
    assert (start.day, start.hour, start.minute) == (1, 0, 0)
    month_minutes = (period_end - start).total_seconds() / 60
    budget = answer["objectives"][0]["budget"]
    assert budget["allowed_minutes"] == pytest.approx(month_minutes * 0.0001)
    assert budget["remaining_fraction"] == 1.0
