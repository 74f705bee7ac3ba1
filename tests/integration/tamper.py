"""What an attacker with database access would do to the audit log."""

from __future__ import annotations

from sqlalchemy import Engine, text

from flywheel.db import Database


def tamper(target: Database | Engine, sql: str, **params: object) -> None:
    """Run raw SQL on the audit tables past the append-only guard, bypassing Flywheel."""
    engine = target.engine if isinstance(target, Database) else target
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:
            # Inside the transaction, so the shared test database gets its guard back.
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        conn.execute(text(sql), params)
        if postgres:
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
