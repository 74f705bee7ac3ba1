"""`flywheel incident` against a running server: an on-call engineer's terminal."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.e2e.conftest import FLYWHEEL, Cli, Server
from tests.factories import am_alert, am_payload


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FLYWHEEL, *args], env=env, capture_output=True, text=True, timeout=120)


def test_list_show_ack_note_link_resolve(cli: Cli, server: Server, tmp_path: Path) -> None:
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=server.headers, timeout=60) as api:
        api.post("/cis", json={"key": "shop", "name": "Shop", "type": "business_service"})
        integration = api.post("/integrations", json={"name": "am"}).json()
        sent = httpx.post(
            f"{server.url}/api/v1/integrations/alertmanager?token={integration['token']}",
            json=am_payload(am_alert("f1", service="shop", severity="critical")),
        )
        assert sent.status_code == 200, sent.text
        number = sent.json()["incidents_opened"][0]
        change = api.post("/changes", json={"service": "shop", "title": "Deploy 2"}).json()
    env = {
        **cli.env,
        "FLYWHEEL_URL": server.url,
        "FLYWHEEL_TOKEN": server.token,
        "FLYWHEEL_DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'none.db'}",
        "COLUMNS": "200",
    }
    listed = _run(env, "incident", "list")
    assert listed.returncode == 0, listed.stderr
    # shop is down (criticality 3, no tenants): medium impact, critical alert → P2.
    assert number in listed.stdout and "P2" in listed.stdout and "triggered" in listed.stdout
    acked = _run(env, "incident", "ack", number, "--note", "on it")
    assert acked.returncode == 0 and f"{number} is now acknowledged" in acked.stdout, acked.stderr
    again = _run(env, "incident", "ack", number)
    assert again.returncode == 1 and "already acknowledged" in again.stderr
    assert "Traceback" not in again.stderr
    assert _run(env, "incident", "note", number, "restarting pods").returncode == 0
    linked = _run(env, "incident", "link-change", number, change["number"], "--note", "suspect")
    assert linked.returncode == 0 and change["number"] in linked.stdout, linked.stderr
    resolved = _run(env, "incident", "resolve", number.lower(), "--note", "rolled back")
    assert resolved.returncode == 0 and "resolved" in resolved.stdout, resolved.stderr
    shown = _run(env, "incident", "show", number, "--json")
    detail = json.loads(shown.stdout)
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[-6:] == ["acknowledged", "note", "note", "link.change", "resolved", "note"]
    assert detail["links"][0]["ref"] == change["number"]
    pretty = _run(env, "incident", "show", number)
    assert "timeline" in pretty.stdout and "restarting pods" in pretty.stdout
    assert "no open incidents" in _run(env, "incident", "list").stdout


def test_bad_ids_and_unknown_incidents_are_one_clean_line(cli: Cli, server: Server) -> None:
    env = {**cli.env, "FLYWHEEL_URL": server.url, "FLYWHEEL_TOKEN": server.token}
    for args, words in (
        (("incident", "show", "nonsense"), "not an incident id"),
        (("incident", "show", "INC0000777"), "no incident 777"),
        (("incident", "list", "--state", "asleep"), "--state 'asleep'"),
        (("incident", "list", "--priority", "P7"), "P1, P2, P3 or P4"),
    ):
        result = _run(env, *args)
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr
        assert words in " ".join(result.stderr.split()), result.stderr


def test_oncall_who_and_schedule(cli: Cli, server: Server, tmp_path: Path) -> None:
    schedule = {
        "key": "shop-primary",
        "name": "Shop primary",
        "time_zone": "Europe/Berlin",
        "start_date": "2025-03-24",
        "rotation": "daily",
        "members": ["admin"],
    }
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=server.headers, timeout=60) as api:
        made = api.post("/oncall/schedules", json=schedule)
        assert made.status_code == 201, made.text
    env = {**cli.env, "FLYWHEEL_URL": server.url, "FLYWHEEL_TOKEN": server.token}
    env["COLUMNS"] = "200"
    who = _run(env, "oncall", "who", "shop-primary", "--at", "2025-03-30T07:00:00Z", "--json")
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["on_call"]["username"] == "admin"
    before = _run(env, "oncall", "who", "shop-primary", "--at", "2025-03-01T00:00:00Z")
    assert before.returncode == 0 and "nobody is on call" in before.stdout
    listed = _run(env, "oncall", "schedule")
    assert listed.returncode == 0 and "shop-primary" in listed.stdout, listed.stderr
    shown = _run(env, "oncall", "schedule", "shop-primary", "--days", "2")
    assert shown.returncode == 0 and "admin" in shown.stdout and "hands off 09:00" in shown.stdout
    missing = _run(env, "oncall", "who", "nope")
    assert missing.returncode == 1 and "no on-call schedule 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr
