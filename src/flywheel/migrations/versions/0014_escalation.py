"""escalation policies, escalations, contact methods and notification deliveries

Revision ID: 0014
Revises: 0008
Create Date: 2026-11-26 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import flywheel.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
_TIME = flywheel.db.UTCDateTime(timezone=True)


def _policies() -> None:
    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("services", _JSON, nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("steps", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_policies")),
        sa.UniqueConstraint("key", name=op.f("uq_escalation_policies_key")),
    )


def _escalations() -> None:
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("policy_key", sa.String(length=64), nullable=True),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("fired", sa.Integer(), nullable=False),
        sa.Column("next_at", _TIME, nullable=True),
        sa.Column("notified", _JSON, nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_escalations_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_escalations_incident_id")),
    )
    op.create_index("ix_escalations_due", "escalations", ["state", "next_at"])


def _contacts() -> None:
    op.create_table(
        "contact_methods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_kind", sa.String(length=8), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=1000), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),  # encrypted at rest (flywheel.vault)
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_methods")),
        sa.UniqueConstraint("owner_kind", "owner", "channel", "address", name="uq_contact_methods"),
    )
    op.create_index("ix_contact_methods_owner", "contact_methods", ["owner_kind", "owner"])


def _deliveries() -> None:
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=False),
        sa.Column("recipient_kind", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=1000), nullable=False),
        sa.Column("contact_method_id", sa.Integer(), nullable=True),
        sa.Column("message", _JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", _TIME, nullable=True),
        sa.Column("claimed_until", _TIME, nullable=True),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_notification_deliveries_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_method_id"],
            ["contact_methods.id"],
            name=op.f("fk_notification_deliveries_contact_method_id_contact_methods"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notification_deliveries_dedupe_key")),
    )
    op.create_index(
        "ix_notification_deliveries_due", "notification_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index(
        op.f("ix_notification_deliveries_incident_id"), "notification_deliveries", ["incident_id"]
    )


def upgrade() -> None:
    _policies()
    _escalations()
    _contacts()
    _deliveries()


def downgrade() -> None:
    op.drop_table("notification_deliveries")
    op.drop_table("contact_methods")
    op.drop_table("escalations")
    op.drop_table("escalation_policies")
