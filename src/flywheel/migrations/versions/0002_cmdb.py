"""cmdb

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:48:05.109679
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import flywheel.db

BUILTIN_TYPES = {
    "business_service": "A service the business sells or relies on (storefront, checkout, …)",
    "application": "Software that implements part of a business service",
    "service_pool": "Interchangeable instances behind a load balancer, with a min_up",
    "instance": "One running copy of an application",
    "host": "A machine (physical or virtual) that runs instances",
    "database": "A database server or cluster",
    "load_balancer": "A load balancer or its backend",
    "network": "A network segment, link or device",
    "external_service": "A partner: payment provider, marketplace, price-comparison site",
    "tenant": "A retailer using the platform",
}

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ci_types = op.create_table(
        "ci_types",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column(
            "attribute_schema",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_at", flywheel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ci_types")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        ci_types,
        [
            {"name": name, "description": text, "builtin": True, "created_at": now}
            for name, text in BUILTIN_TYPES.items()
        ],
    )
    op.create_table(
        "cmdb_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", flywheel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("op", sa.String(length=32), nullable=False),
        sa.Column("ci_key", sa.String(length=200), nullable=False),
        sa.Column("other_key", sa.String(length=200), nullable=True),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmdb_changes")),
    )
    with op.batch_alter_table("cmdb_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cmdb_changes_audit_seq"), ["audit_seq"], unique=False)
        batch_op.create_index("ix_cmdb_changes_ci_key", ["ci_key", "id"], unique=False)
        batch_op.create_index("ix_cmdb_changes_other_key", ["other_key", "id"], unique=False)

    op.create_table(
        "cis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("environment", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("criticality", sa.Integer(), nullable=False),
        sa.Column("owner_team", sa.String(length=64), nullable=True),
        sa.Column("min_up", sa.String(length=16), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", flywheel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", flywheel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["type"], ["ci_types.name"], name=op.f("fk_cis_type_ci_types")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cis")),
        sa.UniqueConstraint("key", name=op.f("uq_cis_key")),
    )
    with op.batch_alter_table("cis", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cis_owner_team"), ["owner_team"], unique=False)
        batch_op.create_index(batch_op.f("ix_cis_type"), ["type"], unique=False)

    op.create_table(
        "ci_relationships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("optional", sa.Boolean(), nullable=False),
        sa.Column("created_at", flywheel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["cis.id"],
            name=op.f("fk_ci_relationships_source_id_cis"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["cis.id"],
            name=op.f("fk_ci_relationships_target_id_cis"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ci_relationships")),
        sa.UniqueConstraint("source_id", "type", "target_id", name="uq_ci_relationships_link"),
    )
    with op.batch_alter_table("ci_relationships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ci_relationships_target_id"), ["target_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ci_relationships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ci_relationships_target_id"))

    op.drop_table("ci_relationships")
    with op.batch_alter_table("cis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cis_type"))
        batch_op.drop_index(batch_op.f("ix_cis_owner_team"))

    op.drop_table("cis")
    with op.batch_alter_table("cmdb_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_cmdb_changes_other_key")
        batch_op.drop_index("ix_cmdb_changes_ci_key")
        batch_op.drop_index(batch_op.f("ix_cmdb_changes_audit_seq"))

    op.drop_table("cmdb_changes")
    op.drop_table("ci_types")
