"""The `flywheel` command line."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from sqlalchemy.exc import OperationalError

from flywheel.cli import (
    audit_commands,
    backup_commands,
    change_commands,
    change_schedule_commands,
    cmdb_commands,
    credential_commands,
    db_commands,
    delivery_commands,
    demo_commands,
    deploy_commands,
    doctor_commands,
    escalation_commands,
    incident_commands,
    oncall_commands,
    policy_commands,
    probe_commands,
    problem_commands,
    risk_commands,
    risk_model_commands,
    secrets_commands,
    serve_commands,
    slo_commands,
    token_commands,
    user_commands,
    worker_commands,
)
from flywheel.cli.common import err_console
from flywheel.errors import FlywheelError

app = typer.Typer(
    name="flywheel",
    help="Flywheel: risk-gated changes, rolling releases, incidents, problems, SLOs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve_commands.serve)
app.command("init")(serve_commands.init)
app.command("demo")(demo_commands.demo)
app.command("backup")(backup_commands.backup)
app.command("restore")(backup_commands.restore)
app.command("doctor")(doctor_commands.doctor)
app.command("worker")(worker_commands.worker)
app.add_typer(db_commands.app, name="db")
app.add_typer(user_commands.app, name="user")
app.add_typer(token_commands.app, name="token")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(cmdb_commands.app, name="cmdb")
app.add_typer(change_commands.app, name="change")
app.add_typer(deploy_commands.app, name="deploy")
app.add_typer(policy_commands.app, name="policy")
app.add_typer(risk_commands.app, name="risk")
app.add_typer(incident_commands.app, name="incident")
app.add_typer(oncall_commands.app, name="oncall")
app.add_typer(probe_commands.app, name="probe")
app.add_typer(escalation_commands.app, name="escalation")
app.add_typer(slo_commands.app, name="slo")
app.add_typer(delivery_commands.app, name="delivery")
app.add_typer(secrets_commands.app, name="secrets")
app.add_typer(credential_commands.app, name="credential")
app.add_typer(problem_commands.app, name="problem")
app.add_typer(problem_commands.known_error_app, name="known-error")
_ = risk_model_commands  # adds train, models and promote to `flywheel risk`
__ = change_schedule_commands  # adds reschedule to `flywheel change`


def main() -> None:
    """Entry point: run a command, turning known errors into one clear line."""
    try:
        app()
    except FlywheelError as exc:
        err_console.print(f"[red]error:[/] {escape(exc.message)}")
        sys.exit(1)
    except OperationalError as exc:
        err_console.print(f"[red]error:[/] database unavailable: {escape(str(exc.orig))}")
        sys.exit(1)
