"""The `flywheel` command line, run as a user would run it."""

from __future__ import annotations

import csv
import io
import json

import httpx
from sqlalchemy import create_engine, text

from flywheel.config import normalize_database_url
from tests.e2e.conftest import Cli, Server
from tests.integration.tamper import tamper


def test_init_prints_a_working_admin_token_once(cli: Cli, server: Server) -> None:
    me = httpx.get(f"{server.url}/api/v1/me", headers=server.headers).json()
    assert me["username"] == "admin"
    assert me["roles"] == ["admin"]
    again = cli("init")
    assert "already initialised" in again.stdout
    assert server.token not in again.stdout


def test_quickstart_token_replaces_the_previous_one(cli: Cli, server: Server) -> None:
    fresh = cli("init", "--quickstart").stdout.strip().splitlines()[-1]
    assert fresh.startswith("fw_") and fresh != server.token
    assert httpx.get(f"{server.url}/api/v1/me", headers=server.headers).status_code == 401
    fresh_headers = {"Authorization": f"Bearer {fresh}"}
    assert httpx.get(f"{server.url}/api/v1/me", headers=fresh_headers).status_code == 200


def test_users_and_tokens_from_the_cli(cli: Cli, server: Server) -> None:
    cli("user", "create", "gina", "--role", "operator", "--role", "change_manager")
    listed = cli("user", "list").stdout
    assert "gina" in listed and "change_manager" in listed
    token = cli("token", "create", "--user", "gina", "--name", "pipeline").stdout.split()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    me = httpx.get(f"{server.url}/api/v1/me", headers=headers).json()
    assert me["roles"] == ["change_manager", "operator"]
    token_id = httpx.get(f"{server.url}/api/v1/tokens", headers=headers).json()[0]["id"]
    cli("token", "revoke", str(token_id))
    assert httpx.get(f"{server.url}/api/v1/me", headers=headers).status_code == 401


def test_cli_errors_are_one_clear_line(cli: Cli) -> None:
    cli("init")
    bad_name = cli("user", "create", "Not Valid", check=False)
    assert bad_name.returncode != 0
    assert "username" in bad_name.stderr and "Traceback" not in bad_name.stderr
    cli("user", "create", "hank")
    dup = cli("user", "create", "hank", check=False)
    assert dup.returncode == 1
    assert "already exists" in dup.stderr
    ghost = cli("token", "create", "--user", "ghost", check=False)
    assert ghost.returncode == 1
    assert "no user 'ghost'" in ghost.stderr
    bad_role = cli("user", "create", "ivy", "--role", "wizard", check=False)
    assert bad_role.returncode == 2
    assert "wizard" in bad_role.stderr


def test_audit_verify_names_an_edited_event(cli: Cli, server: Server) -> None:
    for key in ("web", "db", "net"):
        body = {"key": key, "name": key.upper()}
        assert httpx.post(f"{server.url}/api/v1/teams", json=body, headers=server.headers)
    ok = cli("audit", "verify")
    assert "intact" in ok.stdout
    engine = create_engine(normalize_database_url(cli.env["FLYWHEEL_DATABASE_URL"]))
    tamper(engine, "UPDATE audit_events SET after = NULL WHERE object_id = 'db'")
    with engine.connect() as conn:
        seq = conn.execute(text("SELECT seq FROM audit_events WHERE object_id = 'db'")).scalar_one()
    engine.dispose()
    broken = cli("audit", "verify", check=False)
    assert broken.returncode == 1
    assert f"audit event #{seq}" in broken.stderr
    assert "edited" in broken.stderr


def test_audit_export_jsonl_and_csv(cli: Cli, server: Server) -> None:
    httpx.post(
        f"{server.url}/api/v1/teams", json={"key": "qa", "name": "QA"}, headers=server.headers
    )
    lines = cli("audit", "export").stdout.strip().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["action"] == "team.create"
    assert all(len(e["hash"]) == 64 for e in events)
    rows = list(csv.DictReader(io.StringIO(cli("audit", "export", "--format", "csv").stdout)))
    assert [int(r["seq"]) for r in rows] == [e["seq"] for e in events]
    future = cli("audit", "export", "--since", "2999-01-01").stdout
    assert future.strip() == ""
    bad = cli("audit", "export", "--format", "xml", check=False)
    assert bad.returncode == 2
