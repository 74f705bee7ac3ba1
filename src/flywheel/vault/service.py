"""Re-encrypting stored secrets with the newest key."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, Table, Text, select, update
from sqlalchemy.orm import Session

from flywheel.vault import keyring
from flywheel.vault.types import ENCRYPTED_COLUMNS


def rotate(session: Session) -> dict[str, int]:
    """Re-encrypt every stored secret not yet under the newest key; counts per column."""
    ring = keyring.current()
    counts: dict[str, int] = {}
    for table_name, column_name in sorted(ENCRYPTED_COLUMNS):
        # Raw text columns: the stored (encrypted) form, not the decrypted one.
        table = Table(
            table_name, MetaData(), Column("id", primary_key=True), Column(column_name, Text)
        )
        column = table.c[column_name]
        done = 0
        rows = session.execute(select(table.c.id, column).where(column.is_not(None))).all()
        for row_id, stored in rows:
            fresh = ring.rotated(str(stored))
            if fresh is not None:
                session.execute(update(table).where(table.c.id == row_id).values({column: fresh}))
                done += 1
        counts[f"{table_name}.{column_name}"] = done
    return counts
