"""`flywheel db`: schema migrations."""

from __future__ import annotations

import typer

from flywheel import migrate
from flywheel.cli.common import console, database, settings

app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Option("head", help="Target revision.")) -> None:
    """Bring the database schema up to date."""
    migrate.upgrade(settings().resolved_database_url, revision)
    with database() as db:
        console.print(f"database at revision [bold]{migrate.current_revision(db.engine)}[/]")


@app.command("current")
def current() -> None:
    """Show the database's revision and the newest one this version ships."""
    with database() as db:
        console.print(f"database: {migrate.current_revision(db.engine)}")
    console.print(f"shipped:  {migrate.head_revision()}")


@app.command("revision")
def revision(message: str = typer.Option(..., "-m", "--message", help="What changes.")) -> None:
    """Autogenerate a migration from the models (for Flywheel developers)."""
    migrate.make_revision(settings().resolved_database_url, message)
