"""Delivery and service-level pages: the four keys, time-to-delivery, budgets, tenant reports."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest

from flywheel.db import Database, utcnow
from flywheel.slo import service as slo_service
from flywheel.slo.schemas import SloCreate
from tests.factories import SYSTEM, Bake, make_estate, record_change, record_deployment
from tests.integration.web.conftest import Console

H = timedelta(hours=1)


def _figure(html: str, chart_id: str) -> dict[str, object]:
    found = re.search(rf'<script type="application/json" id="{chart_id}-data">(.*?)</script>', html)
    assert found, f"no figure {chart_id}"
    figure: dict[str, object] = json.loads(found.group(1))
    return figure


@pytest.fixture
def history(db: Database, people: dict[str, str]) -> None:
    """Six weeks of checkout deliveries (one failed), and an SLO on its bake traffic."""
    now = utcnow()
    with db.session(write=True) as session:
        make_estate(session)
        for week in range(6):
            start = now - timedelta(days=7 * week + 2)
            change = record_change(
                session,
                service="checkout",
                created_at=start - 5 * H,
                commits=[start - 30 * H],
                approved_at=start - 3 * H,
            )
            failed = week == 1
            record_deployment(
                session,
                service="checkout",
                state="rolled_back" if failed else "succeeded",
                started_at=start,
                finished_at=start + H,
                change_id=change.id,
                rolled_out_at=start + 0.5 * H,
                bakes=[Bake(start + H, requests=1000, errors=60 if failed else 1)],
            )
        data = SloCreate.model_validate(
            {
                "service": "checkout",
                "name": "availability",
                "objective": 99.0,
                "source": "deployments",
            }
        )
        slo_service.create_slo(session, actor=SYSTEM, data=data)
        session.commit()


def test_the_delivery_page_shows_the_four_keys_and_its_charts(
    console: Console, history: None
) -> None:
    console.sign_in("dana")
    page = console.get("/delivery?days=90")
    assert page.status_code == 200
    text = unescape(page.text)
    for name in ("Deployment frequency", "Lead time for changes", "Change failure rate"):
        assert name in text
    assert "Time to restore" in text and "Time to delivery" in text
    assert "1 of 6 deployments failed" in text
    assert re.search(r'class="badge b-(elite|high|medium|low)"', text)
    ttd = _figure(page.text, "ttd-chart")
    names = [trace["name"] for trace in ttd["data"]]  # type: ignore[index,union-attr]
    assert names == ["development", "approval wait", "deploy queue", "rollout", "verification"]
    heights = [y for trace in ttd["data"] for y in trace["y"] if y]  # type: ignore[union-attr,index]
    assert heights, "the stacked chart has no data"
    flow = _figure(page.text, "flow-chart")
    delivered = flow["data"][1]  # type: ignore[index]
    assert delivered["name"] == "delivered" and sum(delivered["y"]) == 5


def test_delivery_input_errors_are_named(console: Console, history: None) -> None:
    console.sign_in("dana")
    bad = console.get("/delivery?days=13")
    assert bad.status_code == 422 and "days must be one of" in bad.text
    unknown = console.get("/delivery?service=nowhere")
    assert unknown.status_code == 422 and "nowhere" in unknown.text
    assert console.get("/delivery?days=abc").status_code == 422
    one = console.get("/delivery?days=30&service=checkout")
    assert one.status_code == 200 and "The four keys of checkout" in one.text


def test_service_levels_show_attainment_and_the_burn_down(console: Console, history: None) -> None:
    console.sign_in("audrey")
    page = console.get("/service-levels")
    assert page.status_code == 200
    text = unescape(page.text)
    assert "availability" in text and "99.0 %" in text
    assert "Error budget burn-down" in text
    burn = _figure(page.text, "burn-1")
    line = burn["data"][0]  # type: ignore[index]
    assert line["name"] == "availability"
    assert any(v is not None for v in line["y"]), "the burn-down has no data"
    left = re.search(r"<td>(-?\d+) %</td>\s*<td><span class=\"badge h-", page.text)
    assert left, "no budget left in the SLO table"
    assert round(line["y"][-1] * 100) == int(left.group(1))  # the line ends where the table is
    assert line["y"][0] >= line["y"][-1]  # one failed bake burnt some of it
    assert console.get("/service-levels?service=search").status_code == 404


def test_the_overview_shows_budgets_and_the_delivery_summary(
    console: Console, history: None
) -> None:
    console.sign_in("carl")
    page = unescape(console.get("/").text)
    assert "checkout: error budget left" in page
    assert "Service levels of the business services" in page
    assert "Delivery, last 30 days" in page and "Time to delivery" in page
    assert "vs the period before" in page


def test_the_tenant_report_and_its_exports(console: Console, history: None) -> None:
    console.sign_in("dana")
    empty = console.get("/service-levels/tenants")
    assert empty.status_code == 200 and "Name a tenant" in empty.text
    page = console.get("/service-levels/tenants?tenant=acme&months=2")
    assert page.status_code == 200
    assert "Services used: checkout" in unescape(page.text)
    assert 'href="/service-levels/tenants/acme/availability.csv?months=2"' in page.text
    csv = console.get("/service-levels/tenants/acme/availability.csv?months=2")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("tenant,month,availability_percent")
    assert len(csv.text.splitlines()) == 3
    printable = console.get("/service-levels/tenants/acme/availability.html")
    assert printable.status_code == 200 and "<h1>Availability of" in printable.text
    assert printable.headers["x-content-type-options"] == "nosniff"
    not_tenant = console.get("/service-levels/tenants?tenant=checkout")
    assert not_tenant.status_code == 422 and "not a tenant" in not_tenant.text
    missing = console.get("/service-levels/tenants/ghost/availability.csv")
    assert missing.status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(console: Console, history: None) -> None:
    for url in ("/delivery", "/service-levels", "/service-levels/tenants/acme/availability.csv"):
        answer = console.get(url)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in")
