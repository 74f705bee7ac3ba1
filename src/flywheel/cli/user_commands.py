"""`flywheel user`: manage people."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.table import Table

from flywheel.auth import service
from flywheel.auth.roles import Role
from flywheel.auth.schemas import UserCreate
from flywheel.cli.common import cli_actor, console, database, write_session
from flywheel.errors import InvalidInput

app = typer.Typer(help="Users and their roles.", no_args_is_help=True)


def _validated_user(**fields: object) -> UserCreate:
    try:
        return UserCreate.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(problems) from exc


@app.command("create")
def create(
    username: str,
    role: list[Role] = typer.Option([Role.DEVELOPER], "--role", "-r", help="Repeat for several."),
    full_name: str = typer.Option("", help="The person's name."),
    email: str | None = typer.Option(None, help="E-mail address."),
    password: bool = typer.Option(False, "--password", help="Prompt for a console password."),
) -> None:
    """Create a user."""
    secret = (
        typer.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    )
    data = _validated_user(
        username=username, roles=role, full_name=full_name, email=email, password=secret
    )
    with write_session() as session:
        user = service.create_user(session, actor=cli_actor(), data=data)
        session.commit()
    console.print(f"created user [bold]{user.username}[/] ({', '.join(user.role_names)})")


@app.command("list")
def list_users(role: Role | None = typer.Option(None, help="Only users with this role.")) -> None:
    """List users."""
    table = Table("username", "name", "roles", "teams", "active")
    with database() as db, db.session() as session:
        after = 0
        while batch := service.list_users(session, after_id=after, limit=500, role=role):
            for user in batch:
                table.add_row(
                    user.username,
                    user.full_name,
                    ", ".join(user.role_names),
                    ", ".join(user.team_keys),
                    "yes" if user.is_active else "no",
                )
            after = batch[-1].id
    console.print(table)


@app.command("sign-out")
def sign_out(username: str) -> None:
    """End every console session of a user (sign out everywhere); audited."""
    from flywheel.web import service as console_sessions

    with write_session() as session:
        ended = console_sessions.end_sessions_everywhere(
            session, actor=cli_actor(), username=username
        )
        session.commit()
    console.print(f"signed [bold]{username}[/] out everywhere ({ended} console sessions ended)")
