"""sign out everywhere (a session generation per user) and the ID token of SSO sessions

Revision ID: 0018
Revises: 0019
Create Date: 2026-11-27 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
# After 0019, main's head when this landed (0019 itself follows 0017): a database already at
# 0019 then still gets this one.
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Count each user's sign-outs everywhere; sessions remember their generation and ID token."""
    op.create_table(
        "session_generations",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_session_generations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_session_generations")),
    )
    with op.batch_alter_table("console_sessions") as batch:
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("id_token", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("console_sessions") as batch:
        batch.drop_column("id_token")
        batch.drop_column("generation")
    op.drop_table("session_generations")
