"""worker processes: one heartbeat row per process that runs background work

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flywheel.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, flywheel.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the heartbeat table."""
    op.create_table(
        "worker_processes",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        _time("started_at"),
        _time("last_seen_at"),
        _time("stopped_at", nullable=True),
        sa.Column("recovered_by", sa.String(length=200), nullable=True),
        _time("recovered_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_processes")),
    )
    op.create_index(op.f("ix_worker_processes_last_seen_at"), "worker_processes", ["last_seen_at"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index(op.f("ix_worker_processes_last_seen_at"), table_name="worker_processes")
    op.drop_table("worker_processes")
