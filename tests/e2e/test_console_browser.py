"""The console in a real browser (Debian's Chromium, driven by Playwright) against `flywheel serve`.

A change manager signs in, approves a held change, watches its deployment (a real rolling
bounce of local storefronts behind HAProxy) update live to the end, sees charts and the
dependency graph drawn, and signs out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.deploy_support import LoadGenerator, describe_pool, running_pool
from tests.e2e.conftest import Server
from tests.support import require_component

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "a long enough password"
MEDIUM_RISK = {"la": 300, "ld": 0, "nf": 10}  # the built-in policy asks one change manager


@pytest.fixture
def browser() -> Iterator[Browser]:
    require_component(os.access(CHROMIUM, os.X_OK), "Chromium is not installed (apt chromium)")
    with sync_playwright() as play:
        launched = play.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _api(server: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v1", headers=server.headers, timeout=30)


def _people(api: httpx.Client) -> None:
    for name, role in (("carl", "change_manager"), ("pipeline", "developer")):
        body = {"username": name, "roles": [role], "password": PASSWORD}
        assert api.post("/users", json=body).status_code == 201


def _held_change(server: Server, api: httpx.Client) -> int:
    token = api.post("/tokens", json={"name": "ci", "username": "pipeline"}).json()["token"]
    body = {"service": "shop", "title": "Shop v2 from the pipeline", "code_metrics": MEDIUM_RISK}
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as pipeline:
        made = pipeline.post("/changes", json=body, headers={"Authorization": f"Bearer {token}"})
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "authorize", made.json()["decision"]
    return int(made.json()["id"])


def _watch_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", keep)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def test_approve_watch_a_deployment_and_sign_out(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    with running_pool(tmp_path / "pool", size=3, version="v1") as pool, _api(server) as api:
        describe_pool(pool, server.url, server.headers)
        _people(api)
        change_id = _held_change(server, api)
        page = browser.new_page(viewport={"width": 1366, "height": 860})
        errors = _watch_errors(page)

        page.goto(f"{server.url}/changes/{change_id}")
        expect(page).to_have_url(f"{server.url}/sign-in?next=%2Fchanges%2F{change_id}")
        page.get_by_label("Username").fill("carl")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server.url}/changes/{change_id}")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Shop v2 from the pipeline")
        page.get_by_label("Comment (optional)").fill("looks fine")
        page.get_by_role("button", name="Approve").click()
        expect(page.get_by_role("status")).to_have_text("Your approval is recorded.")
        expect(page.locator(".facts .badge").first).to_have_text("scheduled")

        settings = {"bake_s": 2, "min_requests": 5, "poll_s": 0.05}
        body = {
            "pool": "shop-pool",
            "version": "v2",
            "environment": "staging",
            "change_id": change_id,
            "settings": settings,
        }
        with LoadGenerator(pool.frontend_port):
            made = api.post("/deployments", json=body)
            assert made.status_code == 201, made.text
            run = made.json()["id"]
            page.goto(f"{server.url}/deployments/{run}")
            assert page.locator("#run[data-live]").count() == 1, "the run ended before the page"
            expect(page.locator("#run")).to_have_attribute("data-finished", "true", timeout=90_000)
        expect(page.locator("#run-summary .run-state")).to_have_text("succeeded")
        assert page.locator("#run-batches td.st-done").count() == 3 * 9  # 3 batches, 9 steps
        bars = page.locator("#run-chart svg.main-svg .bars path")
        expect(bars.first).to_be_attached()
        assert {pool.target.running_version(i) for i in pool.instances} == {"v2"}

        page.goto(f"{server.url}/")
        overview_bars = page.locator("#deploys-per-day svg.main-svg .bars path")
        expect(overview_bars.first).to_be_attached()
        page.goto(f"{server.url}/cmdb/ci/shop-pool")
        graph = page.locator("svg.graph")
        expect(graph).to_be_visible()
        assert graph.locator("rect").count() >= 5  # the pool, its service and its 3 instances
        page.screenshot(path=str(tmp_path / "ci.png"))

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("status")).to_have_text("You are signed out.")
        page.goto(f"{server.url}/deployments/{run}")
        expect(page).to_have_url(f"{server.url}/sign-in?next=%2Fdeployments%2F{run}")
        assert errors == [], errors


def test_open_the_problem_board_and_start_an_investigation(
    server: Server, browser: Browser
) -> None:
    with _api(server) as api:
        body = {"username": "pat", "roles": ["developer"], "password": PASSWORD}
        assert api.post("/users", json=body).status_code == 201
        made = api.post("/problems", json={"title": "Cart pool runs dry", "service": "cart"})
        assert made.status_code == 201, made.text
    page = browser.new_page(viewport={"width": 1366, "height": 860})
    errors = _watch_errors(page)
    page.goto(f"{server.url}/problems")
    page.get_by_label("Username").fill("pat")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/problems")
    new_column = page.locator("section.column", has=page.locator("#col-new"))
    new_column.get_by_role("link", name=made.json()["number"]).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cart pool runs dry")
    page.get_by_role("button", name="Start investigation").click()
    expect(page.get_by_role("status")).to_have_text("Investigation started.")
    expect(page.locator(".facts .badge").first).to_have_text("investigating")
    assert errors == [], errors
