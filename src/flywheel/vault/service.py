"""The credential store (create, rotate, delete, resolve for drivers) and key rotation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, MetaData, Table, Text, select, update
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.cmdb import service as cmdb_service
from flywheel.db import Database, utcnow
from flywheel.errors import Conflict, InvalidInput, NotFound, StaleVersion
from flywheel.vault import keyring
from flywheel.vault.credential_values import CredentialKind, checked, references_in
from flywheel.vault.models import Credential
from flywheel.vault.schemas import CredentialCreate
from flywheel.vault.types import ENCRYPTED_COLUMNS

# (name, kind) -> the decrypted value, for the deploy drivers.
CredentialLookup = Callable[[str, CredentialKind], str]
POOL_TYPE = "service_pool"  # the CIs whose attributes.deploy configure the drivers
_SCAN_PAGE = 500


def _summary(credential: Credential) -> dict[str, Any]:
    """What the audit trail keeps of a credential: never its value."""
    return {
        "name": credential.name,
        "kind": credential.kind,
        "description": credential.description,
        "owner_team": credential.owner_team,
        "fingerprint": credential.fingerprint,
    }


def _check_team(session: Session, team: str | None) -> None:
    if team is None:
        return
    try:
        auth_service.get_team(session, key=team)
    except NotFound as exc:
        raise InvalidInput(f"unknown owner_team '{team}'") from exc


def create_credential(session: Session, *, actor: Actor, data: CredentialCreate) -> Credential:
    """Check and store a new credential (encrypted); InvalidInput names what is wrong."""
    if session.scalar(select(Credential.id).where(Credential.name == data.name)):
        raise Conflict(f"credential '{data.name}' already exists")
    _check_team(session, data.owner_team)
    value, fingerprint = checked(data.kind, data.value)
    credential = Credential(
        name=data.name,
        kind=data.kind.value,
        description=data.description,
        owner_team=data.owner_team,
        fingerprint=fingerprint,
        value=value,
        created_by=actor.name,
        updated_by=actor.name,
    )
    session.add(credential)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="credential.create",
        object_type="credential",
        object_id=credential.name,
        after=_summary(credential),
    )
    return credential


def list_credentials(session: Session) -> list[Credential]:
    """Every credential, by name."""
    return list(session.scalars(select(Credential).order_by(Credential.name)))


def get_credential(session: Session, *, name: str) -> Credential:
    """The credential with this name, or NotFound."""
    found = session.scalar(select(Credential).where(Credential.name == name))
    if found is None:
        raise NotFound(f"no credential '{name}'")
    return found


def rotate_credential(
    session: Session, *, actor: Actor, name: str, version: int, value: str
) -> Credential:
    """Replace a credential's value (send the version you read); the kind stays."""
    credential = get_credential(session, name=name)
    if credential.version != version:
        raise StaleVersion(
            f"credential '{name}' is at version {credential.version}, not {version}",
            details={"current_version": credential.version},
        )
    before = _summary(credential)
    credential.value, credential.fingerprint = checked(CredentialKind(credential.kind), value)
    credential.updated_at = utcnow()
    credential.updated_by = actor.name
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="credential.rotate",
        object_type="credential",
        object_id=name,
        before=before,
        after=_summary(credential),
    )
    return credential


def _named_by(attributes: dict[str, Any] | None) -> set[str]:
    return references_in((attributes or {}).get("deploy"))


def referencing_cis(session: Session, *, name: str) -> list[str]:
    """Keys of the pools whose deploy settings name this credential ("credential:NAME"), sorted."""
    found: list[str] = []
    after_id = 0
    while True:
        page = cmdb_service.list_cis(
            session, ci_type=POOL_TYPE, after_id=after_id, limit=_SCAN_PAGE
        )
        found += [ci.key for ci in page if name in _named_by(ci.attributes)]
        if len(page) < _SCAN_PAGE:
            return sorted(found)
        after_id = page[-1].id


def delete_credential(session: Session, *, actor: Actor, name: str) -> None:
    """Remove a credential no pool's deploy settings name; Conflict lists those that do."""
    credential = get_credential(session, name=name)
    users = referencing_cis(session, name=name)
    if users:
        raise Conflict(
            f"credential '{name}' is used by the deploy settings of {', '.join(users)}: "
            "change those first",
            details={"cis": users},
        )
    before = _summary(credential)
    session.delete(credential)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="credential.delete",
        object_type="credential",
        object_id=name,
        before=before,
    )


def secret_value(session: Session, *, name: str, kind: CredentialKind) -> str:
    """The decrypted value for a driver; NotFound or InvalidInput when it cannot be used."""
    credential = get_credential(session, name=name)
    if credential.kind != kind.value:
        raise InvalidInput(f"credential '{name}' is a {credential.kind}, not a {kind.value}")
    return credential.value


def lookup_in(session: Session) -> CredentialLookup:
    """Resolve credentials on this session."""
    return lambda name, kind: secret_value(session, name=name, kind=kind)


def lookup_through(db: Database) -> CredentialLookup:
    """Resolve credentials, each on its own short read session."""

    def lookup(name: str, kind: CredentialKind) -> str:
        with db.session() as session:
            return secret_value(session, name=name, kind=kind)

    return lookup


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
