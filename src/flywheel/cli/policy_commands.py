"""`flywheel policy`: change policies as code (YAML), applied and read through the API."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import typer
from rich.markup import escape

from flywheel.cli.client import DEFAULT_URL, TokenOption, UrlOption, connect
from flywheel.cli.common import console
from flywheel.errors import InvalidInput

app = typer.Typer(help="Change policies: versioned YAML rules per service.", no_args_is_help=True)

DEFAULT_SCOPE = "*"


def policy_scope(service: str | None, default: bool) -> str:
    """The scope named by --service S or --default (exactly one of them)."""
    if bool(service) == default:
        raise InvalidInput("name the policy's scope: either --service SERVICE or --default")
    return DEFAULT_SCOPE if default else str(service)


def read_policy_file(path: Path) -> str:
    """The policy text of a file; InvalidInput when it cannot be read or is empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInput(f"cannot read policy file {path}: {reason}") from exc
    if not text.strip():
        raise InvalidInput(f"policy file {path} is empty")
    return text


def _path(scope: str) -> str:
    return f"/change-policies/{quote(scope, safe='')}"


def _scope_name(scope: str) -> str:
    return "the default policy" if scope == DEFAULT_SCOPE else f"service {scope}"


@app.command("apply")
def apply(
    path: Path = typer.Argument(..., metavar="FILE", help="The policy as YAML."),
    service: str | None = typer.Option(None, "--service", help="The service it governs."),
    default: bool = typer.Option(False, "--default", help="The default for every service."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Store FILE as the next version of a service's (or the default) change policy."""
    scope = policy_scope(service, default)
    text = read_policy_file(path)
    with connect(url, token) as client:
        stored = client.put(_path(scope), {"text": text})
    console.print(
        f"applied {escape(_scope_name(scope))} policy version {stored['version']} "
        f"(new changes are decided by it)",
        soft_wrap=True,
    )


@app.command("show")
def show(
    service: str | None = typer.Argument(None, metavar="[SERVICE]", help="The service."),
    default: bool = typer.Option(False, "--default", help="Show the default policy."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """The policy in force for a service (its own, else the default, else the built-in)."""
    scope = policy_scope(service, default)
    with connect(url, token) as client:
        policy = client.get(_path(scope))
    if as_json:
        print(json.dumps(policy, indent=2))
        return
    source = "built-in" if policy["version"] == 0 else f"scope '{policy['scope']}'"
    by = f" by {policy['created_by']} at {policy['created_at']}" if policy["version"] else ""
    print(f"# policy in force for {_scope_name(scope)}: {source}, version {policy['version']}{by}")
    print(policy["text"].rstrip("\n"))
