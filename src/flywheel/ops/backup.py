"""Consistent backups and restores of Flywheel's database, with the audit chain checked.

A backup is a snapshot file plus a manifest beside it (`<file>.manifest.json`) naming the
schema revision, the audit chain's head and the snapshot's SHA-256. A restore refuses a file
that does not match its manifest, puts the snapshot in place, upgrades the schema when the
snapshot is older than this version of Flywheel, and verifies the audit chain before it says
the restore is done.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, text

from flywheel import __version__
from flywheel.errors import InvalidInput


@dataclass(frozen=True)
class ChainState:
    """The audit chain of a snapshot: how many events, its head, whether it verifies."""

    events: int
    head_seq: int
    head_hash: str
    intact: bool
    first_break: str | None


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, written beside it."""

    format: str
    created_at: str
    flywheel_version: str
    revision: str | None
    sha256: str
    size_bytes: int
    audit: ChainState

    def save(self, path: Path) -> None:
        """Write the manifest as JSON."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a manifest; InvalidInput when it is missing or not one."""
        try:
            raw = json.loads(path.read_text())
            return cls(**{**raw, "audit": ChainState(**raw["audit"])})
        except FileNotFoundError as exc:
            raise InvalidInput(
                f"no manifest {path}: a backup is the file and its manifest"
            ) from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInput(f"{path} is not a Flywheel backup manifest: {exc}") from exc


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did."""

    source: str
    revision_before_upgrade: str | None
    revision: str | None
    audit: ChainState


class BackupStore(Protocol):
    """One backend's way to snapshot and restore a database."""

    format: str

    def snapshot(self, dest: Path) -> ChainState:
        """Write a consistent snapshot to `dest`; the chain state as of that snapshot."""

    def put_back(self, source: Path, *, force: bool) -> None:
        """Replace the database's contents with the snapshot at `source`."""


def manifest_path(backup: Path) -> Path:
    """Where a backup's manifest lives."""
    return backup.with_name(backup.name + ".manifest.json")


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def revision_of(conn: Connection) -> str | None:
    """The schema revision recorded in a database (None if never migrated)."""
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return str(row[0]) if row else None


def new_manifest(fmt: str, dest: Path, revision: str | None, chain: ChainState) -> Manifest:
    """The manifest of a snapshot just written."""
    return Manifest(
        format=fmt,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        flywheel_version=__version__,
        revision=revision,
        sha256=sha256_of(dest),
        size_bytes=dest.stat().st_size,
        audit=chain,
    )


def checked_manifest(source: Path, fmt: str) -> Manifest:
    """The manifest of a backup about to be restored, after checking the file matches it."""
    if not source.is_file():
        raise InvalidInput(f"no backup file {source}")
    manifest = Manifest.load(manifest_path(source))
    if manifest.format != fmt:
        raise InvalidInput(
            f"{source} is a {manifest.format} backup; this Flywheel uses {fmt}: "
            "restore it into a database of the same kind"
        )
    if sha256_of(source) != manifest.sha256:
        raise InvalidInput(f"{source} does not match its manifest (SHA-256 differs): not restored")
    return manifest
