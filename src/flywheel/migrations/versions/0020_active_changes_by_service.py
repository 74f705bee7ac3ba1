"""a partial index of active changes by service and id, for conflict candidates

Revision ID: 0020
Revises: 0018
Create Date: 2026-11-27 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None

ACTIVE_CONDITION = "state IN ('authorize', 'scheduled', 'implement')"


def upgrade() -> None:
    """Index a service's active changes newest first (the conflict check reads 20 of them)."""
    op.create_index(
        "ix_changes_active_service",
        "changes",
        ["service", "id"],
        postgresql_where=sa.text(ACTIVE_CONDITION),
        sqlite_where=sa.text(ACTIVE_CONDITION),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_changes_active_service", table_name="changes")
