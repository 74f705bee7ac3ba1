"""`flywheel credential`: SSH keys, kubeconfigs and tokens kept encrypted by Flywheel.

Over the API (like `flywheel probe`): the value travels to the server, which alone holds the
encryption keys; it is never printed or sent back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from flywheel.cli.client import DEFAULT_URL, TokenOption, UrlOption, connect
from flywheel.cli.common import console
from flywheel.errors import InvalidInput
from flywheel.vault.credential_values import CredentialKind

app = typer.Typer(
    help="Credentials for the deploy drivers, encrypted at rest, never shown back.",
    no_args_is_help=True,
)

FileOption = typer.Option(..., "--file", "-f", help="Where to read the value ('-': stdin).")


def read_value(path: str) -> str:
    """The secret text in a file or on stdin; InvalidInput when it cannot be read."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise InvalidInput(f"cannot read {path}: {reason}") from None


def _line(c: dict[str, Any]) -> str:
    team = f", team {c['owner_team']}" if c["owner_team"] else ""
    return f"{c['name']} ({c['kind']}{team}) fingerprint {c['fingerprint']}, version {c['version']}"


@app.command("add")
def add(
    name: str = typer.Argument(help="A short name (lower case, digits, . _ -)."),
    kind: CredentialKind = typer.Option(..., "--kind", help="What the value is."),
    file: str = FileOption,
    description: str = typer.Option("", help="What it is for."),
    team: str | None = typer.Option(None, "--team", help="The owning team's key."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Store a credential; drivers use it as "credential:NAME"."""
    body = {
        "name": name,
        "kind": kind.value,
        "value": read_value(file),
        "description": description,
        "owner_team": team,
    }
    with connect(url, token) as client:
        made = client.post("/credentials", body)
    console.print("stored " + escape(_line(made)))


@app.command("list")
def list_credentials(
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """List the credentials (names, kinds, fingerprints; never values)."""
    with connect(url, token) as client:
        found = client.get("/credentials")
    if as_json:
        print(json.dumps(found, indent=2))
        return
    if not found:
        console.print("no credentials")
        return
    table = Table("name", "kind", "fingerprint", "team", "version", "updated", "by")
    for c in found:
        cells = (c["name"], c["kind"], c["fingerprint"], c["owner_team"] or "-")
        table.add_row(*map(escape, cells), str(c["version"]), c["updated_at"][:16], c["updated_by"])
    console.print(table)


@app.command("show")
def show(
    name: str = typer.Argument(help="The credential's name."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """One credential's description and fingerprint (its value is never shown)."""
    with connect(url, token) as client:
        found = client.get(f"/credentials/{name}")
    if as_json:
        print(json.dumps(found, indent=2))
        return
    console.print(escape(_line(found)))
    if found["description"]:
        console.print(escape(found["description"]))
    console.print(
        escape(
            f"created {found['created_at'][:16]} by {found['created_by']}, "
            f"updated {found['updated_at'][:16]} by {found['updated_by']}"
        )
    )


@app.command("rotate")
def rotate(
    name: str = typer.Argument(help="The credential's name."),
    file: str = FileOption,
    version: int | None = typer.Option(None, help="Refuse if it changed since this version."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Replace a credential's value; the next deployment step uses the new one."""
    value = read_value(file)
    with connect(url, token) as client:
        current = version if version is not None else client.get(f"/credentials/{name}")["version"]
        done = client.post(f"/credentials/{name}/rotate", {"version": current, "value": value})
    console.print("rotated " + escape(_line(done)))


@app.command("remove")
def remove(
    name: str = typer.Argument(help="The credential's name."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Remove a credential (refused while a pool's deploy settings name it)."""
    with connect(url, token) as client:
        client.request("DELETE", f"/credentials/{name}")
    console.print(f"credential {escape(name)} removed")
