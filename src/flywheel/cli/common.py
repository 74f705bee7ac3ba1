"""What every CLI command shares: settings, the database, the acting operator, errors."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console

from flywheel.auth.actor import Actor, system_actor
from flywheel.config import Settings, get_settings
from flywheel.context import new_request_id, request_id_var

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from flywheel.db import Database

console = Console(soft_wrap=True)  # paths and ids stay whole on one line for scripts
err_console = Console(stderr=True, soft_wrap=True)


def settings() -> Settings:
    """The settings for this command."""
    return get_settings()


def cli_actor() -> Actor:
    """The operator running a command on the server, as the audit trail names them."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return system_actor(f"cli:{who}")


@contextmanager
def database() -> Iterator[Database]:
    """The configured database, closed afterwards."""
    from flywheel.db import Database  # commands that only call the API never load SQLAlchemy

    db = Database(settings().resolved_database_url, settings())
    request_id_var.set(f"cli-{new_request_id()}")
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def write_session() -> Iterator[Session]:
    """A write session; committed by the command when its work is done."""
    with database() as db, db.session(write=True) as session:
        yield session
