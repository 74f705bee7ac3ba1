"""`flywheel serve` and `flywheel init`: run the server and set up a new install."""

from __future__ import annotations

import os

import typer
import uvicorn
from sqlalchemy.orm import Session

from flywheel import migrate
from flywheel.auth import service
from flywheel.auth.models import User
from flywheel.auth.roles import Role
from flywheel.auth.schemas import UserCreate
from flywheel.cli.common import cli_actor, console, settings, write_session
from flywheel.config import get_settings
from flywheel.logs import uvicorn_log_config
from flywheel.workers.identity import Role as WorkerRole

QUICKSTART_TOKEN = "quickstart"


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default FLYWHEEL_HOST)."),
    port: int | None = typer.Option(None, help="Port (default FLYWHEEL_PORT)."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
    upgrade: bool = typer.Option(True, help="Migrate the database first."),
    api_only: bool = typer.Option(
        False, "--api-only", help="Serve requests only; `flywheel worker` runs background work."
    ),
) -> None:
    """Start the API server (migrating the database first)."""
    if api_only:
        os.environ["FLYWHEEL_ROLE"] = WorkerRole.API.value
        get_settings.cache_clear()
    cfg = settings()
    if upgrade:
        migrate.upgrade(cfg.resolved_database_url)
    host, port = host or cfg.host, port or cfg.port
    console.print(f"Flywheel listening on [bold]http://{host}:{port}[/] (API docs at /docs)")
    uvicorn.run(
        "flywheel.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=cfg.log_level,
        log_config=uvicorn_log_config(cfg.log_level, cfg.log_format),
    )


def init(
    admin: str = typer.Option("admin", help="Username of the first admin."),
    email: str | None = typer.Option(None, help="The admin's e-mail."),
    quickstart: bool = typer.Option(
        False, help="On an initialised install, issue a fresh quickstart token for the admin."
    ),
) -> None:
    """Create the database and the first admin, and print the admin's token once."""
    cfg = settings()
    migrate.upgrade(cfg.resolved_database_url)
    cfg.resolved_secret_key()
    with write_session() as session:
        admins = service.list_users(session, role=Role.ADMIN, limit=500)
        first_admin = next((u for u in admins if u.is_active), None)
        if first_admin is not None and not quickstart:
            console.print(
                f"already initialised (admin: {first_admin.username}); "
                "create tokens with `flywheel token create --user NAME`"
            )
            return
        if first_admin is None:
            data = UserCreate(username=admin, roles=[Role.ADMIN], email=email, full_name="Admin")
            first_admin = service.create_user(session, actor=cli_actor(), data=data)
        _revoke_quickstart_tokens(session, first_admin)
        _, secret = service.create_token(
            session, actor=cli_actor(), name=QUICKSTART_TOKEN, username=first_admin.username
        )
        session.commit()
    console.print(f"admin user: [bold]{first_admin.username}[/]")
    console.print("API token (shown once, keep it safe):")
    print(secret, flush=True)


def _revoke_quickstart_tokens(session: Session, user: User) -> None:
    actor = cli_actor()
    for token in service.list_tokens(session, actor=actor, username=user.username):
        if token.name == QUICKSTART_TOKEN and token.revoked_at is None:
            service.revoke_token(session, actor=actor, token_id=token.id)
