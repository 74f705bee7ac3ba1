"""`flywheel demo --no-live` seeds the scenario through the API and serves it."""

from __future__ import annotations

import subprocess
import time

import httpx

from tests.e2e.conftest import FLYWHEEL, Cli
from tests.support import free_port


def test_demo_seeds_the_estate_people_and_policy(cli: Cli) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*FLYWHEEL, "demo", "--no-live", "--tenants", "300", "--port", str(port)],
        env={**cli.env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while not any("scenario seeded" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            line = process.stdout.readline()
            assert line or process.poll() is None, "".join(lines)
            lines.append(line)
        token = next(line.strip() for line in lines if line.startswith("fw_"))
        assert any("sign in as: admin /" in line and "carla /" in line for line in lines)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
        )
        tenants = api.get("/cis", params={"type": "tenant", "limit": 500}).json()["items"]
        assert len(tenants) == 300
        impact = api.get("/cis/storefront-db/impact").json()
        assert "storefront" in {s["key"] for s in impact["business_services"]}
        assert impact["tenants_affected"] == 300
        users = {u["username"] for u in api.get("/users").json()["items"]}
        assert {"dana", "oscar", "carla", "pipeline"} <= users
        policy = api.get("/change-policies/*").json()
        assert "pipeline-flow" in policy["text"]
        envs = api.get("/environments").json()
        assert [e["name"] for e in envs] == ["production"]
    finally:
        process.terminate()
        process.wait(timeout=30)
