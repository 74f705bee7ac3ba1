"""Secrets are stored encrypted, read back in the clear, and re-encrypted on rotation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text

from flywheel.audit import service as audit_service
from flywheel.audit.service import AuditFilter
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.vault import keyring, service
from flywheel.vault.keyring import PREFIX, SecretUnreadable
from flywheel.vault.types import ENCRYPTED_COLUMNS, encrypted
from tests.factories import SYSTEM

TABLE = "vault_test_secrets"


@pytest.fixture
def secrets_table(db: Database, settings: Settings) -> Iterator[Table]:
    """A table with one encrypted column, dropped afterwards."""
    keyring.use(settings.model_copy(update={"encryption_keys": Fernet.generate_key().decode()}))
    table = Table(
        TABLE,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("secret", encrypted(TABLE, "secret")),
    )
    table.create(db.engine)
    try:
        yield table
    finally:
        ENCRYPTED_COLUMNS.discard((TABLE, "secret"))
        table.drop(db.engine)
        keyring.use(settings)


def _raw(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return [r[0] for r in conn.execute(text(f"SELECT secret FROM {TABLE} ORDER BY id"))]


def test_stored_encrypted_and_read_in_the_clear(db: Database, secrets_table: Table) -> None:
    with db.engine.begin() as conn:
        conn.execute(insert(secrets_table), [{"secret": "xoxb-slack-token"}, {"secret": None}])
    stored = _raw(db)
    assert stored[0].startswith(PREFIX) and "xoxb" not in stored[0]
    assert stored[1] is None
    with db.engine.connect() as conn:
        assert conn.execute(select(secrets_table.c.secret)).scalars().all() == [
            "xoxb-slack-token",
            None,
        ]


def test_rotation_re_encrypts_with_the_newest_key(
    db: Database, settings: Settings, secrets_table: Table
) -> None:
    old_key = keyring.current().keys[0]
    with db.engine.begin() as conn:
        conn.execute(insert(secrets_table), [{"secret": "one"}, {"secret": "two"}])
    before = _raw(db)
    new_key = Fernet.generate_key().decode()
    keyring.use(settings.model_copy(update={"encryption_keys": f"{new_key},{old_key}"}))

    with db.session(write=True) as session:
        counts = service.rotate(session)
        session.commit()
        again = service.rotate(session)

    assert counts[f"{TABLE}.secret"] == 2 and again[f"{TABLE}.secret"] == 0
    assert _raw(db) != before
    keyring.use(settings.model_copy(update={"encryption_keys": new_key}))  # old key dropped
    with db.engine.connect() as conn:
        assert conn.execute(select(secrets_table.c.secret)).scalars().all() == ["one", "two"]
    keyring.use(settings.model_copy(update={"encryption_keys": old_key}))
    with db.engine.connect() as conn, pytest.raises(SecretUnreadable):
        conn.execute(select(secrets_table.c.secret)).scalars().all()


def test_secrets_never_reach_the_audit_trail(db: Database) -> None:
    with db.session(write=True) as session:
        audit_service.record(
            session,
            actor=SYSTEM,
            action="integration.update",
            object_type="integration",
            object_id="slack",
            after={"webhook_url": "https://hooks.example/secret", "signing_secret": "s3"},
        )
        session.commit()
    with db.session() as session:
        event = audit_service.recent_events(session, flt=AuditFilter(), limit=1)[0]
    assert event.after == {"webhook_url": "[redacted]", "signing_secret": "[redacted]"}
