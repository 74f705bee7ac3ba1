"""`flywheel change` and `flywheel policy` as a pipeline runs them: remote, over the API."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import FLYWHEEL, Cli, Server
from tests.support import free_port

LOW = "la=12,ld=3,nf=2"
BIG = "la=12000,ld=3000,nf=140"
REJECT_BLOG = """\
mode: first_match
rules:
  - name: blog-frozen
    when: {services: [blog]}
    then: {reject: "blog is frozen for the sale"}
"""
ONE_APPROVER = """\
rules:
  - name: one-change-manager
    when: {}
    then: {approve: {by: "role:change_manager", count: 1}}
"""


@dataclass(frozen=True)
class Shop:
    """A running Flywheel with two services and the people of the change process."""

    server: Server
    env: dict[str, str]
    tokens: dict[str, str]

    def run(self, *args: str, who: str = "pipeline") -> subprocess.CompletedProcess[str]:
        """`flywheel ARGS` on a 'CI runner': the server's URL and a token, no database."""
        env = {**self.env, "FLYWHEEL_TOKEN": self.tokens[who]}
        return subprocess.run(
            [*FLYWHEEL, *args], env=env, capture_output=True, text=True, timeout=120
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """`flywheel ARGS` as the pipeline, in the background."""
        env = {**self.env, "FLYWHEEL_TOKEN": self.tokens["pipeline"]}
        return subprocess.Popen(
            [*FLYWHEEL, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def api(self, who: str = "pipeline") -> httpx.Client:
        """An API client acting as `who`."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.Client(base_url=f"{self.server.url}/api/v1", headers=headers, timeout=60)


def _person(api: httpx.Client, username: str, role: str) -> str:
    api.post("/users", json={"username": username, "roles": [role]}).raise_for_status()
    made = api.post("/tokens", json={"name": "e2e", "username": username})
    made.raise_for_status()
    token: str = made.json()["token"]
    return token


@pytest.fixture
def shop(cli: Cli, server: Server, tmp_path: Path) -> Shop:
    base = httpx.Client(base_url=f"{server.url}/api/v1", headers=server.headers, timeout=60)
    with base as api:
        for key, criticality in (("blog", 4), ("checkout", 1)):
            ci = {"key": key, "name": key, "type": "business_service", "criticality": criticality}
            api.post("/cis", json=ci).raise_for_status()
        tokens = {
            "pipeline": _person(api, "pipeline", "developer"),
            "carl": _person(api, "carl", "change_manager"),
            "cleo": _person(api, "cleo", "change_manager"),
        }
    runner = {
        **cli.env,
        "FLYWHEEL_URL": server.url,
        # A CI runner has no Flywheel database: these commands must never need one.
        "FLYWHEEL_DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'none.db'}",
        "FLYWHEEL_HOME": str(tmp_path / "runner"),
    }
    return Shop(server, runner, tokens)


def _opened(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    change: dict[str, Any] = json.loads(result.stdout)
    return change


def _clean_failure(result: subprocess.CompletedProcess[str], words: str) -> None:
    """Exit 1 with one error message (Rich may wrap it at 80 columns) and no traceback."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("error") == 1, result
    assert words in " ".join(result.stderr.split()), result.stderr


def test_a_low_risk_change_is_approved_at_once_and_a_retried_run_gets_it_again(
    shop: Shop,
) -> None:
    args = ["change", "open", "--service", "blog", "--version", "1.2", "--commit", "abc1234"]
    first = shop.run(*args, "--metrics", LOW, "--external-id", "run-7", "--wait", "--json")
    assert first.returncode == 0, first.stderr
    change = _opened(first)
    assert change["state"] == "scheduled"
    assert change["decision"]["outcome"] == "auto_approve"
    assert f"{change['number']} scheduled: approved" in first.stderr
    assert "low-risk-small-blast" in first.stderr
    again = shop.run(*args, "--metrics", LOW, "--external-id", "run-7", "--wait", "--json")
    assert again.returncode == 0, again.stderr
    assert _opened(again)["id"] == change["id"]
    retitled = shop.run(*args, "--title", "Retry", "--external-id", "run-7", "--json")
    assert _opened(retitled)["id"] == change["id"]
    with shop.api() as api:
        assert len(api.get("/changes", params={"service": "blog"}).json()["items"]) == 1


def test_a_policy_applied_with_the_cli_rejects_the_pipelines_change(
    shop: Shop, tmp_path: Path
) -> None:
    policy = tmp_path / "blog-policy.yaml"
    policy.write_text(REJECT_BLOG)
    denied = shop.run("policy", "apply", str(policy), "--service", "blog")
    _clean_failure(denied, "change_policy:manage")
    applied = shop.run("policy", "apply", str(policy), "--service", "blog", who="carl")
    assert applied.returncode == 0 and "version 1" in applied.stdout, applied.stderr
    shown = shop.run("policy", "show", "blog")
    assert "scope 'blog', version 1 by carl" in shown.stdout
    assert "blog-frozen" in shown.stdout
    result = shop.run("change", "open", "--service", "blog", "--version", "2.0", "--wait")
    assert result.returncode == 3, result.stderr
    assert "rejected" in result.stdout
    assert "blog is frozen for the sale" in result.stdout and "policy blog v1" in result.stdout


def _first_change(shop: Shop, service: str, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    with shop.api() as api:
        while time.monotonic() < deadline:
            found = api.get("/changes", params={"service": service}).json()["items"]
            if found:
                change: dict[str, Any] = found[0]
                return change
            time.sleep(0.1)
    raise AssertionError(f"no change on {service} appeared")


def test_the_pipeline_waits_until_the_cab_approves(shop: Shop) -> None:
    waiting = shop.popen(
        "change", "open", "--service", "checkout", "--version", "9.0", "--metrics", BIG,
        "--wait", "--timeout", "60s", "--poll", "0.2s",
    )  # fmt: skip
    try:
        change = _first_change(shop, "checkout")
        assert change["state"] == "authorize"
        url = f"/changes/{change['id']}/approve"
        with shop.api("carl") as carl:
            assert carl.post(url, json={"comment": "ok"}).json()["state"] == "authorize"
        time.sleep(1)
        assert waiting.poll() is None, "one of two CAB approvals must not release the pipeline"
        with shop.api("cleo") as cleo:
            assert cleo.post(url, json={}).json()["state"] == "scheduled"
        out, err = waiting.communicate(timeout=30)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert "pending approval" in out and f"{change['number']} is now scheduled" in out
    assert f"{change['number']} scheduled: approved" in out


def test_a_change_still_pending_at_the_timeout_exits_4(shop: Shop) -> None:
    args = ["change", "open", "--service", "checkout", "--version", "3", "--metrics", BIG]
    began = time.monotonic()
    timed_out = shop.run(*args, "--wait", "--timeout", "1s", "--poll", "0.2s")
    assert timed_out.returncode == 4, timed_out.stderr
    assert time.monotonic() - began < 30
    number = _first_change(shop, "checkout")["number"]
    assert f"{number} is still pending after 1s" in timed_out.stdout
    assert f"flywheel change show {number}" in timed_out.stdout
    not_waiting = shop.run(*args)
    assert not_waiting.returncode == 0
    assert "still pending (not waiting)" in not_waiting.stdout


def test_bad_input_gets_one_clear_line(shop: Shop) -> None:
    opening = ["change", "open", "--version", "1"]
    nowhere = f"http://127.0.0.1:{free_port()}"
    own = _opened(shop.run(*opening, "--service", "checkout", "--json"))["number"]
    cases = {
        (*opening, "--service", "nowhere"): "unknown service or CI: no configuration item",
        (*opening, "--service", "blog", "--metric", "la"): "expected NAME=NUMBER",
        (*opening, "--service", "blog", "--wait", "--timeout", "soon"): "'soon' is not a duration",
        ("change", "show", "CHG-x"): "'CHG-x' is not a change id",
        ("change", "show", "CHG0000404"): "no change 404",
        ("change", "list", "--url", nowhere): f"cannot reach Flywheel at {nowhere}",
        ("change", "list", "--token", "fw_bogus"): "unknown API token",
        ("change", "approve", own): "separation of duties",
        ("change", "calendar", "--from", "2030-01-02", "--to", "2030-01-01"): "'to' must be after",
    }
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda args: shop.run(*args), cases))
    for result, words in zip(results, cases.values(), strict=True):
        _clean_failure(result, words)
    usage = shop.run(*opening, "--service", "blog", "--type", "urgent")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_lifecycle_commands_from_open_to_close(shop: Shop) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    start, end = tomorrow.isoformat(), (tomorrow + timedelta(hours=1)).isoformat()
    args = ["change", "open", "--service", "blog", "--version", "4", "--metrics", LOW]
    opened = shop.run(*args, "--planned-start", start, "--planned-end", end, "--json")
    number = _opened(opened)["number"]
    assert number in shop.run("change", "calendar").stdout
    assert "now implement" in shop.run("change", "start", number).stdout
    done = shop.run("change", "complete", number, "--code", "successful", "--notes", "fine")
    assert "now review" in done.stdout
    assert "now closed" in shop.run("change", "close", number, who="carl").stdout
    shown = shop.run("change", "show", number.removeprefix("CHG").lstrip("0"), "--json")
    steps = [s["to_state"] for s in _opened(shown)["timeline"]]
    assert steps == ["new", "assess", "authorize", "scheduled", "implement", "review", "closed"]
    cab = ["change", "open", "--service", "checkout", "--version", "5", "--metrics", BIG]
    risky = _opened(shop.run(*cab, "--json"))["number"]
    first = shop.run("change", "approve", risky, "--comment", "fine by me", who="carl")
    assert "still waiting for approvals (2 of role:change_manager)" in first.stdout
    refused = shop.run("change", "reject", risky, "--reason", "not today", who="cleo")
    assert "now rejected" in refused.stdout
    late = shop.run("change", "approve", risky, who="carl")
    _clean_failure(late, f"{risky} is not awaiting approval (it is 'rejected')")
    listed = shop.run("change", "list", "--state", "rejected").stdout
    assert risky in listed and number not in listed


def _approve_and_reject_at_once(carl: httpx.Client, cleo: httpx.Client, url: str) -> list[int]:
    """carl approves while cleo rejects, released together; their statuses, sorted."""
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send(client: httpx.Client, action: str, body: dict[str, str]) -> None:
        barrier.wait()
        statuses.append(client.post(f"{url}/{action}", json=body).status_code)

    threads = [
        threading.Thread(target=send, args=(carl, "approve", {})),
        threading.Thread(target=send, args=(cleo, "reject", {"reason": "not now"})),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(statuses)


def test_a_concurrent_approve_and_reject_let_exactly_one_win(shop: Shop) -> None:
    with shop.api("carl") as carl:
        body = {"text": ONE_APPROVER}
        assert carl.put("/change-policies/checkout", json=body).status_code == 200
    outcomes = set()
    with shop.api() as pipeline, shop.api("carl") as carl, shop.api("cleo") as cleo:
        for race in range(6):
            opened = pipeline.post("/changes", json={"service": "checkout", "title": f"R{race}"})
            change = opened.json()
            assert change["state"] == "authorize"
            url = f"/changes/{change['id']}"
            assert _approve_and_reject_at_once(carl, cleo, url) == [200, 409]
            final = pipeline.get(url).json()
            assert len(final["approvals"]) == 1, final["approvals"]
            outcome = (final["approvals"][0]["verdict"], final["state"])
            assert outcome in {("approve", "scheduled"), ("reject", "rejected")}
            outcomes.add(outcome)
    assert outcomes


def test_reschedule_moves_a_change_and_refuses_bad_windows(shop: Shop) -> None:
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    opened = shop.run(
        *("change", "open", "--service", "blog", "--version", "2.0", "--metrics", LOW),
        *("--planned-start", start.isoformat(), "--json"),
    )
    change = _opened(opened)
    later = start + timedelta(days=2)
    moved = shop.run(
        *("change", "reschedule", change["number"]),
        *("--start", later.isoformat(), "--end", (later + timedelta(hours=2)).isoformat()),
    )
    assert moved.returncode == 0, moved.stderr
    assert f"{change['number']} rescheduled" in moved.stdout
    with shop.api() as api:
        now = api.get(f"/changes/{change['id']}").json()
    assert datetime.fromisoformat(now["planned_start"]) == later
    backwards = shop.run(
        *("change", "reschedule", change["number"]),
        *("--start", later.isoformat(), "--end", start.isoformat()),
    )
    _clean_failure(backwards, "--end must be after --start")
    stale = shop.run(
        *("change", "reschedule", change["number"], "--row-version", "1"),
        *("--start", later.isoformat(), "--end", (later + timedelta(hours=1)).isoformat()),
    )
    _clean_failure(stale, "changed since you read it")
