"""The `flywheel` command line."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from rich.markup import escape

from flywheel.cli.common import err_console
from flywheel.errors import FlywheelError

HELP = "Flywheel: risk-gated changes, rolling releases, incidents, problems, SLOs."

# name → (module in flywheel.cli, attribute); a command runs with only its own module imported,
# so a pipeline's `flywheel change open` does not pay for the server's imports.
COMMANDS = {
    "serve": ("serve_commands", "serve"),
    "init": ("serve_commands", "init"),
    "demo": ("demo_commands", "demo"),
    "backup": ("backup_commands", "backup"),
    "restore": ("backup_commands", "restore"),
    "doctor": ("doctor_commands", "doctor"),
    "worker": ("worker_commands", "worker"),
}
GROUPS = {
    "db": ("db_commands", "app"),
    "user": ("user_commands", "app"),
    "token": ("token_commands", "app"),
    "audit": ("audit_commands", "app"),
    "cmdb": ("cmdb_commands", "app"),
    "change": ("change_commands", "app"),
    "deploy": ("deploy_commands", "app"),
    "policy": ("policy_commands", "app"),
    "risk": ("risk_commands", "app"),
    "incident": ("incident_commands", "app"),
    "oncall": ("oncall_commands", "app"),
    "probe": ("probe_commands", "app"),
    "escalation": ("escalation_commands", "app"),
    "slo": ("slo_commands", "app"),
    "delivery": ("delivery_commands", "app"),
    "secrets": ("secrets_commands", "app"),
    "credential": ("credential_commands", "app"),
    "problem": ("problem_commands", "app"),
    "known-error": ("problem_commands", "known_error_app"),
}
# Modules that add commands to another module's group when imported.
GROUP_EXTENSIONS = {"risk": ["risk_model_commands"], "change": ["change_schedule_commands"]}


def _attribute(module: str, name: str) -> Any:
    """A command function or group from one of the CLI's modules, importing it on first use."""
    return getattr(importlib.import_module(f"flywheel.cli.{module}"), name)


def _root() -> None:
    """Flywheel's commands."""


def build_app(only: str | None = None) -> typer.Typer:
    """The command line with every command, or with only the command named `only`."""
    cli = typer.Typer(
        name="flywheel",
        help=HELP,
        callback=_root,  # a group even when it holds one command
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    for name, (module, attribute) in COMMANDS.items():
        if only in (None, name):
            cli.command(name)(_attribute(module, attribute))
    for name, (module, attribute) in GROUPS.items():
        if only in (None, name):
            for extension in GROUP_EXTENSIONS.get(name, []):
                importlib.import_module(f"flywheel.cli.{extension}")
            cli.add_typer(_attribute(module, attribute), name=name)
    return cli


def command_named(argv: list[str]) -> str | None:
    """The command an argument list asks for, when it names a known one."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS or first in GROUPS else None


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        return build_app()
    raise AttributeError(name)


def main() -> None:
    """Entry point: run a command, turning known errors into one clear line."""
    try:
        build_app(command_named(sys.argv[1:]))()
    except FlywheelError as exc:
        err_console.print(f"[red]error:[/] {escape(exc.message)}")
        sys.exit(1)
    except Exception as exc:
        unreachable = _database_unreachable(exc)
        if unreachable is None:
            raise
        err_console.print(f"[red]error:[/] database unavailable: {escape(unreachable)}")
        sys.exit(1)


def _database_unreachable(exc: Exception) -> str | None:
    """The driver's message when a command (using SQLAlchemy) could not reach the database."""
    loaded = sys.modules.get("sqlalchemy.exc")
    if loaded is None or not isinstance(exc, loaded.OperationalError):
        return None
    return str(exc.orig)
