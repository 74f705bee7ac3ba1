"""`flywheel demo --no-live` seeds the scenario and its history, then exits; the API shows it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.conftest import FLYWHEEL, Cli, _wait_ready
from tests.support import free_port

DAYS = 21


@pytest.fixture
def seeded(cli: Cli) -> Iterator[tuple[httpx.Client, str]]:
    """Run the demo without live parts, then serve its database; (API client, demo output)."""
    result = subprocess.run(
        [*FLYWHEEL, "demo", "--no-live", "--tenants", "300", "--days", str(DAYS)],
        env={**cli.env, "COLUMNS": "200", "FLYWHEEL_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    token = next(line.strip() for line in result.stdout.splitlines() if line.startswith("fw_"))
    port = free_port()
    process = subprocess.Popen(
        [*FLYWHEEL, "serve", "--port", str(port)],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=60) as api:
            yield api, result.stdout
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_demo_seeds_the_estate_people_and_policy(seeded: tuple[httpx.Client, str]) -> None:
    api, output = seeded
    assert "sign in as: admin /" in output and "carla /" in output
    assert "scenario seeded" in output and f"history: {DAYS} days" in output
    tenants = api.get("/cis", params={"type": "tenant", "limit": 500}).json()["items"]
    assert len(tenants) == 300
    impact = api.get("/cis/storefront-db/impact").json()
    assert "storefront" in {s["key"] for s in impact["business_services"]}
    assert impact["tenants_affected"] == 300
    users = {u["username"] for u in api.get("/users").json()["items"]}
    assert {"dana", "oscar", "carla", "pipeline"} <= users
    assert "pipeline-flow" in api.get("/change-policies/*").json()["text"]
    assert [e["name"] for e in api.get("/environments").json()] == ["production"]

    since = (datetime.now(UTC) - timedelta(days=DAYS)).isoformat()
    _four_keys_have_data(api, since)
    _time_to_delivery_has_every_phase(api, since)
    _budgets_are_consumed(api)
    _failed_changes_are_linked_to_incidents(api)
    _recurring_incidents_became_problems(api, output)


def _four_keys_have_data(api: httpx.Client, since: str) -> None:
    report = api.get("/delivery/metrics", params={"since": since}).json()
    storefront = next(s for s in report["services"] if s["service"] == "storefront")
    assert storefront["deployment_frequency"]["deployments"] > 5
    assert storefront["lead_time"]["median_s"] > 0
    keys = ("deployment_frequency", "lead_time", "change_failure_rate", "recovery_time")
    assert all(storefront[k]["status"] == "ok" for k in keys[:3]), storefront
    failures = sum(s["change_failure_rate"]["failed"] for s in report["services"])
    assert failures > 0
    assert any(s["recovery_time"]["count"] > 0 for s in report["services"])


def _time_to_delivery_has_every_phase(api: httpx.Client, since: str) -> None:
    report = api.get("/delivery/time-to-delivery", params={"since": since}).json()
    assert report["total"]["changes"] > 20
    phases = report["total"]["phases"]
    for phase in ("development", "queue", "rollout", "verification"):
        assert phases[phase]["median_s"] > 0, phase
    assert phases["approval"]["mean_s"] > 0  # the held changes waited for carla


def _budgets_are_consumed(api: httpx.Client) -> None:
    consumed = []
    for service in ("storefront", "cart", "checkout", "orders"):
        status = api.get(f"/services/{service}/slo-status").json()
        budget = status["slos"][0]["objectives"][0]["budget"]
        consumed.append(budget["consumed_fraction"])
    assert all(c is not None and c > 0 for c in consumed), consumed


def _failed_changes_are_linked_to_incidents(api: httpx.Client) -> None:
    incidents = api.get("/incidents", params={"limit": 200}).json()["items"]
    assert incidents and all(i["state"] == "resolved" for i in incidents)
    assert all(i["acknowledged_at"] for i in incidents)
    assert any(i["priority"] == "P1" for i in incidents)
    linked = []
    for incident in incidents:
        links = api.get(f"/incidents/{incident['id']}").json()["links"]
        linked += [link["ref"] for link in links if link["kind"] == "change"]
    assert linked
    failed = api.get("/changes", params={"limit": 500, "state": "closed"}).json()["items"]
    codes = {c["number"]: c["close_code"] for c in failed}
    assert any(codes.get(ref) in ("failed", "rolled_back") for ref in linked)


def _recurring_incidents_became_problems(api: httpx.Client, output: str) -> None:
    assert "suggested from recurring incidents" in output
    problems = api.get("/problems").json()["items"]
    assert len(problems) == 1 and problems[0]["state"] == "known_error"
    detail = api.get(f"/problems/{problems[0]['id']}").json()
    assert detail["service"] == "cart" and len(detail["incidents"]) >= 4
    assert detail["title"].startswith("cart keeps failing: databaseconnectionsexhausted")
    assert detail["category"] == "software" and "leaks database connections" in detail["root_cause"]
    assert detail["time_to_root_cause_s"] > 0 and len(detail["five_whys"]) == 5
    assert "rolling restart" in detail["known_errors"][0]["workaround"]
    waiting = api.get("/problems/suggestions").json()
    assert any("storefront" in s["value"] for s in waiting)  # host-00 disk keeps filling up
