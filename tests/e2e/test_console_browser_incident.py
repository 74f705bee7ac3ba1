"""An incident traced to its deployment and rolled back from the console, in a real browser.

A pipeline's change goes to production as a real rolling bounce of local storefronts
behind HAProxy; an Alertmanager alert on the shop opens an incident; an operator signs in, opens
the incident from the list, rolls its top suspect back with one click (confirming the
dialog) and watches the rollback run restore v1 everywhere. The delivery and service-level
pages then draw their charts from what just happened.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Dialog, expect

from flywheel.db import utcnow
from tests.deploy_support import LoadGenerator, describe_pool, running_pool
from tests.e2e.conftest import Server
from tests.e2e.test_console_browser import PASSWORD, _api, _watch_errors, browser
from tests.factories import am_alert, am_payload

__all__ = ["browser"]  # the fixture, shared with the other browser test
LOW_RISK = {"la": 4, "ld": 1, "nf": 1}  # the built-in policy lets it flow
FAST = {"bake_s": 2, "min_requests": 5, "poll_s": 0.05}
FINAL = {"succeeded", "rolled_back", "failed", "aborted"}


def _finished(api: httpx.Client, run: int) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found: dict[str, Any] = api.get(f"/deployments/{run}").json()
        if found["state"] in FINAL:
            return found
        time.sleep(0.2)
    raise AssertionError(f"deployment {run} did not finish")


def _ship_v2(api: httpx.Client) -> int:
    """A low-risk change from the pipeline, deployed to production: the run's id."""
    authored = (utcnow() - timedelta(hours=6)).isoformat()
    commit = {"sha": "ab" * 20, "author": "dana", "authored_at": authored, "message": "v2"}
    body = {
        "service": "shop",
        "title": "Shop v2",
        "version": "v2",
        "code_metrics": LOW_RISK,
        "commits": [commit],
    }
    change = api.post("/changes", json=body)
    assert change.status_code == 201, change.text
    assert change.json()["state"] == "scheduled", change.json()["decision"]
    deploy = {
        "pool": "shop-pool",
        "version": "v2",
        "environment": "production",
        "change_id": change.json()["id"],
        "settings": FAST,
    }
    made = api.post("/deployments", json=deploy)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _incident(api: httpx.Client, server: Server, instance: str) -> int:
    token = api.post("/integrations", json={"name": "am"}).json()["token"]
    alert = am_alert("fp-shop", instance=instance, severity="critical")
    sent = httpx.post(
        f"{server.url}/api/v1/integrations/alertmanager",
        json=am_payload(alert),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    (incident,) = api.get("/incidents").json()["items"]
    assert incident["service"] == "shop", incident
    return int(incident["id"])


def test_open_an_incident_and_roll_back_its_suspect(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    with running_pool(tmp_path / "pool", size=3, version="v1") as pool, _api(server) as api:
        describe_pool(pool, server.url, server.headers)
        body = {"username": "otto", "roles": ["operator"], "password": PASSWORD}
        assert api.post("/users", json=body).status_code == 201
        slo = {"service": "shop", "name": "availability", "objective": 99.0}
        assert api.post("/slos", json={**slo, "source": "deployments"}).status_code == 201
        with LoadGenerator(pool.frontend_port):
            shipped = _ship_v2(api)
            assert _finished(api, shipped)["state"] == "succeeded"
        assert {pool.target.running_version(i) for i in pool.instances} == {"v2"}
        incident_id = _incident(api, server, pool.instances[0].key)

        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors = _watch_errors(page)
        page.goto(f"{server.url}/incidents")
        page.get_by_label("Username").fill("otto")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server.url}/incidents")
        page.get_by_role("link", name=f"INC{incident_id:07d}").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(f"INC{incident_id:07d}")
        expect(page.locator("#suspects + p + table tbody tr").first).to_contain_text(f"#{shipped}")
        version = api.get(f"/incidents/{incident_id}").json()["version"]
        acked = api.post(f"/incidents/{incident_id}/ack", json={"version": version})
        assert acked.status_code == 200, acked.text  # someone else, while the page is open
        expect(page.locator("#incident-timeline")).to_contain_text("acknowledged by")
        expect(page.locator("#incident-changed")).to_be_visible()  # live, by SSE
        questions: list[str] = []

        def accept(dialog: Dialog) -> None:
            questions.append(dialog.message)
            dialog.accept()

        page.on("dialog", accept)
        with LoadGenerator(pool.frontend_port):
            button = page.get_by_role("button", name=f"Roll back deployment #{shipped}")
            button.focus()
            page.keyboard.press("Enter")  # keyboard reachable, as every control
            expect(page.get_by_role("status")).to_have_text("Rollback requested.")
            assert questions and f"#{shipped}" in questions[0]
            expect(page.locator("#run")).to_have_attribute("data-finished", "true", timeout=90_000)
        expect(page.locator("#run-summary .run-state")).to_have_text("succeeded")
        expect(page.locator("#run-summary")).to_contain_text(f"undoes #{shipped}")
        assert {pool.target.running_version(i) for i in pool.instances} == {"v1"}

        page.goto(f"{server.url}/incidents/{incident_id}")
        expect(page.locator("#incident-timeline")).to_contain_text(
            f"rollback of deployment {shipped} requested"
        )
        expect(page.locator("#responders + ul")).to_contain_text("otto")

        page.goto(f"{server.url}/delivery?days=30")
        expect(page.locator("#ttd-chart svg.main-svg .bars path").first).to_be_attached()
        expect(page.locator("#flow-chart svg.main-svg .bars path").first).to_be_attached()
        expect(page.locator("dl.keys")).to_contain_text("1 of 1 deployments failed")
        page.goto(f"{server.url}/service-levels")
        expect(page.locator("#burn-1 svg.main-svg .scatterlayer .trace").first).to_be_attached()
        page.goto(f"{server.url}/")
        expect(page.get_by_text("shop: error budget left")).to_be_visible()
        assert errors == [], errors
