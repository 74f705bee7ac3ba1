"""probes and automatic rollback: HTTP probes, their results, rollback policies and decisions

Revision ID: 0015
Revises: 0008
Create Date: 2026-11-26 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import flywheel.db

revision = "0015"
down_revision = "0008"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, flywheel.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("ci_key", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("expected_status", sa.String(length=100), nullable=False),
        sa.Column("body_contains", sa.String(length=500), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("failures_to_alert", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        _time("next_run_at"),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("alerting", sa.Boolean(), nullable=False),
        _time("last_run_at", nullable=True),
        sa.Column("last_ok", sa.Boolean(), nullable=True),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        _time("updated_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probes")),
        sa.UniqueConstraint("name", name=op.f("uq_probes_name")),
    )
    op.create_index(op.f("ix_probes_ci_key"), "probes", ["ci_key"])
    op.create_index(op.f("ix_probes_next_run_at"), "probes", ["next_run_at"])
    op.create_table(
        "probe_results",
        sa.Column("id", _BIG, autoincrement=True, nullable=False),
        sa.Column("probe_id", sa.Integer(), nullable=False),
        _time("at"),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["probe_id"],
            ["probes.id"],
            name=op.f("fk_probe_results_probe_id_probes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probe_results")),
    )
    op.create_index("ix_probe_results_probe_at", "probe_results", ["probe_id", "at"])
    op.create_table(
        "autorollback_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("min_score", sa.Float(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("environments", _JSON, nullable=False),
        sa.Column("max_distance", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        _time("updated_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autorollback_policies")),
        sa.UniqueConstraint("service", name=op.f("uq_autorollback_policies_service")),
    )
    op.create_table(
        "autorollback_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("rollback_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("policy", _JSON, nullable=False),
        _time("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autorollback_decisions")),
        sa.UniqueConstraint(
            "incident_id",
            "deployment_id",
            name=op.f("uq_autorollback_decisions_incident_id"),
        ),
    )
    op.create_index(
        op.f("ix_autorollback_decisions_incident_id"), "autorollback_decisions", ["incident_id"]
    )
    rolled_back = sa.text("outcome = 'rolled_back'")
    op.create_index(
        "ux_autorollback_decisions_rolled_back",
        "autorollback_decisions",
        ["deployment_id"],
        unique=True,
        postgresql_where=rolled_back,
        sqlite_where=rolled_back,
    )


def downgrade() -> None:
    op.drop_table("autorollback_decisions")
    op.drop_table("autorollback_policies")
    op.drop_table("probe_results")
    op.drop_index(op.f("ix_probes_next_run_at"), table_name="probes")
    op.drop_index(op.f("ix_probes_ci_key"), table_name="probes")
    op.drop_table("probes")
