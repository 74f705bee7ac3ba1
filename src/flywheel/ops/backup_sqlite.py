"""Backups of an SQLite database with SQLite's online backup API (consistent while in use)."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import create_engine

from flywheel.errors import InvalidInput
from flywheel.ops.backup import ChainState
from flywheel.ops.chain_state import chain_state


class SqliteBackup:
    """Snapshot and restore of the database file at `path`."""

    format = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    def snapshot(self, dest: Path) -> ChainState:
        """Copy every page as of one read transaction; verify the copy's chain."""
        if not self.path.is_file():
            raise InvalidInput(f"no database at {self.path}: nothing to back up")
        partial = dest.with_name(dest.name + ".partial")
        partial.unlink(missing_ok=True)
        with closing(sqlite3.connect(self.path)) as src, closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        chain = _chain_of(partial)
        os.replace(partial, dest)
        return chain

    def put_back(self, source: Path, *, force: bool) -> None:
        """Write the snapshot's pages into the database (through SQLite, so WAL stays sound)."""
        if self.path.exists() and not force:
            raise InvalidInput(
                f"a database exists at {self.path}: stop Flywheel and pass --force to replace it"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(self.path)) as dst:
            src.backup(dst)


def _chain_of(path: Path) -> ChainState:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return chain_state(conn)
    finally:
        engine.dispose()
