"""Backups and restores of the configured database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, make_url

from flywheel import migrate
from flywheel.audit import service as audit_service
from flywheel.auth.actor import Actor
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.errors import Conflict
from flywheel.ops.backup import (
    BackupStore,
    ChainState,
    Manifest,
    RestoreReport,
    checked_manifest,
    manifest_path,
    new_manifest,
    revision_of,
)
from flywheel.ops.backup_postgres import PostgresBackup
from flywheel.ops.backup_sqlite import SqliteBackup
from flywheel.ops.chain_state import chain_state


def store_for(url: str) -> BackupStore:
    """The backup method of the database at `url`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteBackup(Path(str(parsed.database)))
    return PostgresBackup(url)


def backup(settings: Settings, dest: Path) -> Manifest:
    """Snapshot the database into `dest` and write its manifest beside it."""
    url = settings.resolved_database_url
    store = store_for(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    chain = store.snapshot(dest)
    manifest = new_manifest(store.format, dest, _revision(url), chain)
    manifest.save(manifest_path(dest))
    return manifest


def restore(settings: Settings, source: Path, *, actor: Actor, force: bool) -> RestoreReport:
    """Put a backup in place, upgrade its schema if older, and verify its audit chain."""
    url = settings.resolved_database_url
    store = store_for(url)
    manifest = checked_manifest(source, store.format)
    store.put_back(source, force=force)
    before = _revision(url)
    migrate.upgrade(url)
    db = Database(url, settings)
    try:
        with db.engine.connect() as conn:
            chain = chain_state(conn)
        _check_chain(chain, manifest)
        with db.session(write=True) as session:
            audit_service.record(
                session,
                actor=actor,
                action="system.restore",
                object_type="database",
                object_id=manifest.sha256[:16],
                after={"backup_created_at": manifest.created_at, "audit_head_seq": chain.head_seq},
            )
            session.commit()
    finally:
        db.dispose()
    return RestoreReport(str(source), before, _revision(url), chain)


def _check_chain(chain: ChainState, manifest: Manifest) -> None:
    """The restored chain verifies and ends where the backup's did."""
    if not chain.intact:
        raise Conflict(f"restored audit chain is broken: {chain.first_break}")
    expected = manifest.audit
    if (chain.head_seq, chain.head_hash) != (expected.head_seq, expected.head_hash):
        raise Conflict(
            f"restored audit chain ends at #{chain.head_seq}, the backup's manifest says "
            f"#{expected.head_seq}: the restore does not match the backup"
        )


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return revision_of(conn)
    finally:
        engine.dispose()
