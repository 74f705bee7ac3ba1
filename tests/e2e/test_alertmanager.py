"""A real Prometheus Alertmanager with Flywheel's webhook as its receiver.

Alerts are posted to Alertmanager's own API; Alertmanager groups them and calls
Flywheel, re-sends the group on its repeat interval, and sends `resolved` once the
alerts end. Flywheel must open exactly one incident, keep it on re-sends, and resolve it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.support import free_port, require_component

T = TypeVar("T")
BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
CONFIG = """\
route:
  receiver: flywheel
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: flywheel
    webhook_configs:
      - url: {url}/api/v1/integrations/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


def _wait_for(what: str, probe: Callable[[], T | None], seconds: float = 45) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def alertmanager(server: Server, tmp_path: Path) -> Iterator[str]:
    """Alertmanager on a free port, sending to the server's webhook as integration 'am'."""
    require_component(BINARY is not None, "prometheus-alertmanager is not installed")
    assert BINARY is not None
    made = httpx.post(
        f"{server.url}/api/v1/integrations", json={"name": "am"}, headers=server.headers
    )
    assert made.status_code == 201, made.text
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG.format(url=server.url, token=made.json()["token"]))
    port = free_port()
    command = [
        BINARY,
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    log = (tmp_path / "alertmanager.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for("alertmanager to be ready", lambda: _ready(url, process), seconds=30)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise AssertionError("alertmanager exited during start-up")
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _post_alerts(am_url: str, *, ended: bool = False) -> None:
    now = datetime.now(UTC)
    alerts = [
        {
            "labels": {
                "alertname": "CheckoutErrors",
                "service": "checkout",
                "instance": f"web{n}:9100",
                "severity": "critical",
            },
            "annotations": {"summary": f"5xx on web{n}"},
            "startsAt": (now - timedelta(minutes=5)).isoformat(),
            **({"endsAt": (now - timedelta(seconds=5)).isoformat()} if ended else {}),
            "generatorURL": "http://prometheus.example/graph",
        }
        for n in (1, 2)
    ]
    answer = httpx.post(f"{am_url}/api/v2/alerts", json=alerts, timeout=10)
    assert answer.status_code == 200, answer.text


def _incidents(server: Server) -> list[dict[str, Any]]:
    page = httpx.get(f"{server.url}/api/v1/incidents", headers=server.headers, timeout=10)
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def _detail(server: Server, incident_id: int) -> dict[str, Any]:
    found = httpx.get(f"{server.url}/api/v1/incidents/{incident_id}", headers=server.headers)
    detail: dict[str, Any] = found.json()
    return detail


def test_alertmanager_opens_one_incident_updates_it_and_resolves_it(
    server: Server, alertmanager: str
) -> None:
    _post_alerts(alertmanager)
    (incident,) = _wait_for(
        "an incident with both alerts",
        lambda: [i for i in _incidents(server) if i["alert_count"] == 2] or None,
    )
    assert (incident["service"], incident["state"], incident["firing_count"]) == (
        "checkout",
        "triggered",
        2,
    )

    def resent() -> dict[str, Any] | None:
        detail = _detail(server, incident["id"])
        return detail if min(a["received"] for a in detail["alerts"]) >= 3 else None

    detail = _wait_for("Alertmanager to re-send the group", resent)
    assert [i["id"] for i in _incidents(server)] == [incident["id"]]
    assert detail["alert_count"] == 2
    assert [e["kind"] for e in detail["timeline"]].count("alert.firing") == 2
    assert {a["ci_key"] for a in detail["alerts"]} == {"web1", "web2"}

    _post_alerts(alertmanager, ended=True)
    resolved = _wait_for(
        "the incident to resolve",
        lambda: next((i for i in _incidents(server) if i["state"] == "resolved"), None),
    )
    assert resolved["id"] == incident["id"]
    assert resolved["resolved_by"] == "integration:am"
    assert len(_incidents(server)) == 1
    final = _detail(server, incident["id"])
    assert {a["status"] for a in final["alerts"]} == {"resolved"}
    assert all(a["ends_at"] is not None for a in final["alerts"])
