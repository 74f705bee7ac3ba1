"""`flywheel token`: API tokens."""

from __future__ import annotations

from datetime import timedelta

import typer
from rich.table import Table

from flywheel.auth import service
from flywheel.cli.common import cli_actor, console, database, write_session
from flywheel.db import utcnow

app = typer.Typer(help="API tokens: shown once, stored hashed.", no_args_is_help=True)


@app.command("create")
def create(
    user: str = typer.Option(..., "--user", "-u", help="Whose token."),
    name: str = typer.Option("cli", help="What the token is for."),
    expires_in_days: int | None = typer.Option(None, min=1, help="Expire after N days."),
) -> None:
    """Create a token and print it (it cannot be shown again)."""
    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    with write_session() as session:
        token, secret = service.create_token(
            session, actor=cli_actor(), name=name, username=user, expires_at=expires
        )
        session.commit()
    console.print(f"token {token.id} for [bold]{user}[/] (shown once, keep it safe):")
    print(secret)


@app.command("revoke")
def revoke(token_id: int) -> None:
    """Revoke a token at once."""
    with write_session() as session:
        token = service.revoke_token(session, actor=cli_actor(), token_id=token_id)
        session.commit()
    console.print(f"token {token.id} ({token.name}, {token.user.username}) is revoked")


@app.command("list")
def list_tokens(user: str = typer.Option(..., "--user", "-u")) -> None:
    """List a user's tokens (never their secrets)."""
    table = Table("id", "name", "hint", "created", "expires", "revoked")
    with database() as db, db.session() as session:
        for t in service.list_tokens(session, actor=cli_actor(), username=user):
            table.add_row(
                str(t.id),
                t.name,
                t.hint + "…",
                f"{t.created_at:%Y-%m-%d %H:%M}",
                f"{t.expires_at:%Y-%m-%d %H:%M}" if t.expires_at else "-",
                f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "-",
            )
    console.print(table)
