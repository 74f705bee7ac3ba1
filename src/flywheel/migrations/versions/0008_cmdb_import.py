"""cmdb import: partial indexes on columns that are mostly empty

Revision ID: 0008
Revises: 0011
Create Date: 2026-11-26 18:40:00.000000

`cmdb_changes.other_key` is only set on relationship changes and `cis.owner_team` is
empty on most CIs (tenants, instances). Indexing only the rows that have a value
keeps every lookup by value working and saves two index entries per imported CI.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0011"
branch_labels = None
depends_on = None

PARTIAL = {
    "ix_cmdb_changes_other_key": ("cmdb_changes", ["other_key", "id"], "other_key IS NOT NULL"),
    "ix_cis_owner_team": ("cis", ["owner_team"], "owner_team IS NOT NULL"),
}


def upgrade() -> None:
    for name, (table, columns, where) in PARTIAL.items():
        op.drop_index(name, table_name=table)
        condition = sa.text(where)
        op.create_index(name, table, columns, postgresql_where=condition, sqlite_where=condition)


def downgrade() -> None:
    for name, (table, columns, _) in PARTIAL.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
