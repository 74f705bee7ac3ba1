"""`flywheel escalation` and paging against a running server with its background worker."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import FLYWHEEL, Cli, Server
from tests.factories import am_alert, am_payload
from tests.integration.incident.notify_support import webhook_server

POLICY = """\
key: shop
name: Shop on-call
services: [shop]
steps:
  - notify: [schedule:shop-primary]
    wait_minutes: 10
  - notify: user:admin
"""


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLYWHEEL, *args], env=env, capture_output=True, text=True, timeout=120)


def _setup(api: httpx.Client, hook_url: str) -> None:
    api.post("/cis", json={"key": "shop", "name": "Shop", "type": "business_service"})
    schedule = {
        "key": "shop-primary",
        "name": "Shop primary",
        "time_zone": "UTC",
        "start_date": "2025-01-01",
        "members": ["admin"],
    }
    assert api.post("/oncall/schedules", json=schedule).status_code == 201
    contact = {"channel": "webhook", "address": hook_url}
    assert api.post("/users/admin/contact-methods", json=contact).status_code == 201


def test_apply_page_and_acknowledge_from_the_link(cli: Cli, server: Server, tmp_path: Path) -> None:
    env = {**cli.env, "FLYWHEEL_URL": server.url, "FLYWHEEL_TOKEN": server.token, "COLUMNS": "200"}
    policy_file = tmp_path / "shop.yaml"
    policy_file.write_text(POLICY)
    with (
        webhook_server() as hook,
        httpx.Client(base_url=f"{server.url}/api/v1", headers=server.headers, timeout=60) as api,
    ):
        _setup(api, hook.url())
        applied = _run(env, "escalation", "apply", str(policy_file))
        assert applied.returncode == 0, applied.stderr
        assert "applied escalation policy shop version 1" in applied.stdout
        again = _run(env, "escalation", "apply", str(policy_file))
        assert "version 2" in again.stdout, again.stderr
        shown = _run(env, "escalation", "show", "shop")
        assert "1. notify schedule:shop-primary, then wait 10 min" in shown.stdout, shown.stderr
        assert "shop" in _run(env, "escalation", "list").stdout
        integration = api.post("/integrations", json={"name": "am"}).json()
        sent = httpx.post(
            f"{server.url}/api/v1/integrations/alertmanager?token={integration['token']}",
            json=am_payload(am_alert("f1", service="shop", severity="critical")),
        )
        number = sent.json()["incidents_opened"][0]
        deadline = time.monotonic() + 30
        while not hook.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hook.received, "the server's worker never paged"
    message = hook.received[0].json
    assert (message["incident"], message["event"], message["recipient"]) == (
        number,
        "opened",
        "admin",
    )
    listed = _run(env, "incident", "notifications", number, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [d["status"] for d in json.loads(listed.stdout)] == ["sent"]
    table = _run(env, "incident", "notifications", number)
    assert "webhook" in table.stdout and "sent" in table.stdout
    ack_path = "/ack/" + message["ack_url"].rsplit("/ack/", 1)[1]
    page = httpx.get(server.url + ack_path)
    assert page.status_code == 200 and "Acknowledge" in page.text
    done = httpx.post(server.url + ack_path)
    assert done.status_code == 200, done.text
    shown = json.loads(_run(env, "incident", "show", number, "--json").stdout)
    assert (shown["state"], shown["acknowledged_by"]) == ("acknowledged", "admin")


def test_bad_policy_files_are_one_clean_line(cli: Cli, server: Server, tmp_path: Path) -> None:
    env = {**cli.env, "FLYWHEEL_URL": server.url, "FLYWHEEL_TOKEN": server.token}
    broken = tmp_path / "broken.yaml"
    for text, words in (
        ("key: [unclosed", "not valid YAML"),
        ("name: no key\nsteps: []", "needs a `key`"),
        ("key: x\nsteps:\n  - notify: [pager:x]", "'pager:x' is not schedule:KEY"),
        ("key: x\nsteps:\n  - notify: [user:ghost]", "no user 'ghost'"),
    ):
        broken.write_text(text)
        result = _run(env, "escalation", "apply", str(broken))
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr
        assert words in " ".join(result.stderr.split()), result.stderr
    missing = _run(env, "escalation", "apply", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "cannot read policy file" in missing.stderr
