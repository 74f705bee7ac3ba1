"""sign out everywhere (a per-user session generation) and the ID token of SSO sessions

Revision ID: 0018
Revises: 0016 (to be re-chained onto 0017)
Create Date: 2026-11-27 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0016"  # TEMPORARY: the lead re-chains this onto "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Count each user's sign-out-everywhere; sessions remember their generation and ID token."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("console_sessions") as batch:
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("id_token", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("console_sessions") as batch:
        batch.drop_column("id_token")
        batch.drop_column("generation")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
