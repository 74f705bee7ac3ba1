"""credentials: SSH keys, kubeconfigs and tokens for the deploy drivers, encrypted at rest

Revision ID: 0019
Revises: 0017
Create Date: 2026-11-27 01:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flywheel.db

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, flywheel.db.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Add the credentials table (the value column holds Fernet tokens, never plain text)."""
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("owner_team", sa.String(length=64), nullable=True),
        sa.Column("fingerprint", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        _time("updated_at"),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("name", name=op.f("uq_credentials_name")),
    )


def downgrade() -> None:
    """Drop the credentials table (and every stored credential)."""
    op.drop_table("credentials")
