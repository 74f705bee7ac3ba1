"""signing secrets for alert integrations (HMAC-verified webhooks)

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-26 23:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the (encrypted) signing secret of an integration."""
    with op.batch_alter_table("alert_integrations") as batch:
        batch.add_column(sa.Column("signing_secret", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("alert_integrations") as batch:
        batch.drop_column("signing_secret")
