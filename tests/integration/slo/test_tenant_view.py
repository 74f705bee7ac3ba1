"""Availability per tenant per month, with the incidents that cost it; JSON, CSV and HTML."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flywheel.db import Database, utcnow
from flywheel.slo import sources
from flywheel.slo.slices import Interval
from flywheel.slo.sources import Downtime
from flywheel.slo.windows import month_of
from tests.factories import Person, make_ci, relate

M = timedelta(minutes=1)


@pytest.fixture
def tenants(db: Database, operator: Person) -> Interval:
    """acme uses shop and cart, bolt uses cart; returns last month."""
    with db.session(write=True) as session:
        make_ci(session, "acme", "tenant", name="Acme <Shoes>")
        make_ci(session, "bolt", "tenant")
        relate(session, "acme", "uses", "shop")
        relate(session, "acme", "uses", "cart")
        relate(session, "bolt", "uses", "cart")
        session.commit()
    return month_of(month_of(utcnow()).start - M)


def _incidents(last: Interval) -> None:
    day = last.start + timedelta(days=1, hours=10)
    before = month_of(last.start - M).start + timedelta(days=3)
    table = {
        "shop": [(day, day + 10 * M, "INC1 P1"), (before, before + 30 * M, "INC2 P1")],
        "cart": [(day + 5 * M, day + 20 * M, "INC3 P1")],
    }

    def p1(session: Session, *, service: str, start: datetime, end: datetime) -> Downtime:
        rows = [r for r in table.get(service, []) if r[1] > start and r[0] < end]
        return Downtime(
            bad=[Interval(a, b) for a, b, _ in rows],
            covered=[Interval(start, end)],
            causes=[c for _, _, c in rows],
        )

    sources.register_downtime("test-incidents", p1)


def _get(client: TestClient, who: Person, key: str, **params: str) -> object:
    answer = client.get(f"/api/v1/tenants/{key}/availability", params=params, headers=who.headers)
    assert answer.status_code == 200, answer.text
    return answer


def test_a_tenant_experiences_the_union_of_its_services_downtime(
    client: TestClient, operator: Person, tenants: Interval, registry: sources.Registry
) -> None:
    _incidents(tenants)
    slo = {"service": "shop", "name": "avail", "objective": 99.99, "source": "incidents"}
    client.post("/api/v1/slos", json=slo, headers=operator.headers)
    body = _get(client, operator, "acme", months="3").json()  # type: ignore[attr-defined]
    assert body["services"] == ["cart", "shop"]
    assert body["objective"] == 99.99
    assert len(body["months"]) == 3
    last = body["months"][1]
    assert last["month"] == tenants.start.strftime("%Y-%m")
    minutes = (tenants.end - tenants.start) / M
    # shop 10:00-10:10 and cart 10:05-10:20 overlap: 20 minutes down, not 25.
    assert last["downtime_minutes"] == 20
    assert last["minutes"] == minutes
    assert last["availability"] == pytest.approx((minutes - 20) / minutes * 100)
    assert last["status"] == "missed"
    assert [(c["cause"], c["service"], c["minutes"]) for c in last["incidents"]] == [
        ("INC3 P1", "cart", 15),
        ("INC1 P1", "shop", 10),
    ]
    earlier = body["months"][0]
    assert earlier["downtime_minutes"] == 30
    assert [c["cause"] for c in earlier["incidents"]] == ["INC2 P1"]
    bolt = _get(client, operator, "bolt", months="3").json()  # type: ignore[attr-defined]
    assert bolt["months"][1]["downtime_minutes"] == 15
    assert bolt["months"][0]["downtime_minutes"] == 0
    assert bolt["objective"] is None and bolt["months"][0]["status"] == "measured"


def test_csv_and_printable_html(
    client: TestClient, operator: Person, tenants: Interval, registry: sources.Registry
) -> None:
    _incidents(tenants)
    answer = _get(client, operator, "acme", months="2", format="csv")
    assert answer.headers["content-type"].startswith("text/csv")  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(answer.text)))  # type: ignore[attr-defined]
    assert [r["month"] for r in rows] == [
        tenants.start.strftime("%Y-%m"),
        month_of(utcnow()).start.strftime("%Y-%m"),
    ]
    assert rows[0]["downtime_minutes"] == "20"
    assert rows[0]["incidents"] == "INC3 P1 on cart: 15 min; INC1 P1 on shop: 10 min"
    page = _get(client, operator, "acme", format="html")
    text = page.text  # type: ignore[attr-defined]
    assert page.headers["content-type"].startswith("text/html")  # type: ignore[attr-defined]
    assert "<h1>Availability of Acme &lt;Shoes&gt; (acme)</h1>" in text
    assert "INC1 P1 on shop: 10 min" in text


def test_no_provider_no_data_and_bad_keys(
    client: TestClient, operator: Person, tenants: Interval, registry: sources.Registry
) -> None:
    body = _get(client, operator, "acme").json()  # type: ignore[attr-defined]
    assert body["note"] == "no incident source is registered"
    assert {m["status"] for m in body["months"]} == {"no data"}
    assert all(m["availability"] is None for m in body["months"])
    not_tenant = client.get("/api/v1/tenants/shop/availability", headers=operator.headers)
    assert not_tenant.status_code == 422 and "not a tenant" in not_tenant.text
    missing = client.get("/api/v1/tenants/nobody/availability", headers=operator.headers)
    assert missing.status_code == 404
    too_many = client.get("/api/v1/tenants/acme/availability?months=99", headers=operator.headers)
    assert too_many.status_code == 422
