"""Backups of a PostgreSQL database with pg_dump, at the snapshot the chain was checked in."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, inspect, make_url, text

from flywheel.errors import InvalidInput
from flywheel.ops.backup import ChainState
from flywheel.ops.chain_state import chain_state


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise InvalidInput(f"{name} not found: install the PostgreSQL client (postgresql-client)")
    return found


class PostgresBackup:
    """Snapshot (pg_dump custom format) and restore (pg_restore) of the database at `url`."""

    format = "pg_dump"

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self._env = {**os.environ, "PGPASSWORD": parsed.password or ""}
        self._libpq = parsed.set(drivername="postgresql", password=None).render_as_string()

    def snapshot(self, dest: Path) -> ChainState:
        """Export a snapshot, verify the chain in it, and dump exactly that snapshot."""
        pg_dump = _tool("pg_dump")
        partial = dest.with_name(dest.name + ".partial")
        engine = create_engine(self.url, isolation_level="REPEATABLE READ")
        try:
            with engine.connect() as conn:
                snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                chain = chain_state(conn)
                self._run(
                    pg_dump,
                    "--format=custom",
                    "--no-owner",
                    f"--snapshot={snapshot_id}",
                    f"--file={partial}",
                    f"--dbname={self._libpq}",
                )
                conn.rollback()
        finally:
            engine.dispose()
        os.replace(partial, dest)
        return chain

    def put_back(self, source: Path, *, force: bool) -> None:
        """Restore the dump in one transaction; an existing schema only with `force`."""
        pg_restore = _tool("pg_restore")
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                in_use = inspect(conn).has_table("alembic_version")
        finally:
            engine.dispose()
        if in_use and not force:
            raise InvalidInput(
                "the database already holds Flywheel's tables: stop Flywheel and pass --force "
                "to replace them"
            )
        self._run(
            pg_restore,
            "--single-transaction",
            "--no-owner",
            *(["--clean", "--if-exists"] if in_use else []),
            f"--dbname={self._libpq}",
            str(source),
        )

    def _run(self, *argv: str) -> None:
        done = subprocess.run(argv, env=self._env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tool = Path(argv[0]).name
            raise InvalidInput(f"{tool} failed: {done.stderr.strip() or done.returncode}")
