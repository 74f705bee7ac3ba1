"""`flywheel secrets`: encryption of stored secrets."""

from __future__ import annotations

import typer

from flywheel.cli.common import console, settings, write_session
from flywheel.vault import keyring, service

app = typer.Typer(help="Secrets kept encrypted at rest.", no_args_is_help=True)


@app.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored secret with the newest key (put it first in the keyring)."""
    keyring.use(settings())
    with write_session() as session:
        counts = service.rotate(session)
        session.commit()
    total = sum(counts.values())
    for column, done in counts.items():
        console.print(f"{column}: {done} re-encrypted")
    console.print(f"{total} secrets re-encrypted with the newest key; older keys may now go")
