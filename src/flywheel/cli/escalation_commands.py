"""`flywheel escalation`: escalation policies as YAML, applied and read through the API.

A policy file holds one policy, or several under `policies:`:

    key: web
    name: Web on-call
    services: [checkout]
    repeat: 1
    steps:
      - notify: [schedule:web-primary]
        wait_minutes: 10
      - notify: [user:dana, team:ops]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from flywheel.cli.client import DEFAULT_URL, ApiClient, TokenOption, UrlOption, connect
from flywheel.cli.common import console
from flywheel.errors import InvalidInput, NotFound

app = typer.Typer(help="Escalation policies: who is paged, step by step.", no_args_is_help=True)

_KINDS = ("schedule", "user", "team")


def _target(text: Any, where: str) -> dict[str, str]:
    kind, _, ref = str(text).partition(":")
    if kind not in _KINDS or not ref:
        raise InvalidInput(f"{where}: '{text}' is not schedule:KEY, user:NAME or team:KEY")
    return {"kind": kind, "ref": ref}


def _step(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} is not a mapping with `notify`")
    step = {k: v for k, v in raw.items() if k != "notify"}
    if "notify" in raw:
        notify = raw["notify"] if isinstance(raw["notify"], list) else [raw["notify"]]
        step["targets"] = [_target(t, where) for t in notify]
    return step


def parse_policies(text: str, source: str) -> list[dict[str, Any]]:
    """The policies a YAML text describes, in the API's shape; InvalidInput naming the problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source} is not valid YAML: {exc}") from exc
    items = data.get("policies") if isinstance(data, dict) and "policies" in data else [data]
    if not isinstance(items, list) or not items:
        raise InvalidInput(f"{source} holds no policy")
    policies = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not item.get("key"):
            raise InvalidInput(f"{source}: policy {number} needs a `key`")
        steps = item.get("steps")
        if not isinstance(steps, list):
            raise InvalidInput(f"{source}: policy '{item['key']}' needs a list of `steps`")
        where = f"{source}: policy '{item['key']}'"
        shaped = [_step(s, f"{where} step {i}") for i, s in enumerate(steps, start=1)]
        policies.append({**item, "name": item.get("name") or item["key"], "steps": shaped})
    return policies


def _path(key: str) -> str:
    return f"/escalation-policies/{quote(str(key), safe='')}"


def _apply_one(client: ApiClient, policy: dict[str, Any]) -> dict[str, Any]:
    try:
        current = client.get(_path(policy["key"]))
    except NotFound:
        created: dict[str, Any] = client.post("/escalation-policies", policy)
        return created
    body = {k: v for k, v in policy.items() if k != "key"}
    updated: dict[str, Any] = client.put(
        _path(policy["key"]), {**body, "version": current["version"]}
    )
    return updated


@app.command("apply")
def apply(
    path: Path = typer.Argument(
        ..., metavar="FILE", help="One policy, or several under `policies:`."
    ),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Create FILE's policies, or store them as the next version of those that exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read policy file {path}: {exc}") from exc
    policies = parse_policies(text, str(path))
    with connect(url, token) as client:
        for policy in policies:
            stored = _apply_one(client, policy)
            console.print(
                f"applied escalation policy {escape(stored['key'])} version {stored['version']}",
                soft_wrap=True,
            )


def _step_line(number: int, step: dict[str, Any]) -> str:
    targets = ", ".join(f"{t['kind']}:{t['ref']}" for t in step["targets"])
    return f"  {number}. notify {targets}, then wait {step['wait_minutes']:g} min"


@app.command("show")
def show(
    key: str = typer.Argument(..., help="The policy's key."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """One policy: its services and steps."""
    with connect(url, token) as client:
        policy = client.get(_path(key))
    if as_json:
        print(json.dumps(policy, indent=2))
        return
    scope = "default; " if policy["default"] else ""
    services = ", ".join(policy["services"]) or "no services"
    console.print(
        escape(
            f"{policy['key']}: {policy['name']} ({scope}{services}), version {policy['version']}"
        ),
        soft_wrap=True,
    )
    for number, step in enumerate(policy["steps"], start=1):
        console.print(escape(_step_line(number, step)), soft_wrap=True)
    if policy["repeat"]:
        console.print(f"  then repeat {policy['repeat']} more time(s)")


@app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Every escalation policy."""
    with connect(url, token) as client:
        policies = client.get("/escalation-policies")
    if as_json:
        print(json.dumps(policies, indent=2))
        return
    if not policies:
        console.print("no escalation policies")
        return
    table = Table("policy", "name", "services", "steps", "repeat", "version")
    for p in policies:
        services = ("(default) " if p["default"] else "") + ", ".join(p["services"])
        cells = (
            p["key"],
            p["name"],
            services,
            str(len(p["steps"])),
            str(p["repeat"]),
            str(p["version"]),
        )
        table.add_row(*map(escape, cells))
    console.print(table)
