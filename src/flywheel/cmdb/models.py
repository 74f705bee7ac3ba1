"""Tables of the CMDB: CI types, configuration items, relationships and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.db import Base, utcnow


class CIType(Base):
    """A kind of configuration item, with an optional JSON schema for its attributes."""

    __tablename__ = "ci_types"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    attribute_schema: Mapped[dict[str, Any] | None]
    builtin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConfigurationItem(Base):
    """Something Flywheel manages: a service, an instance, a host, a tenant, …"""

    __tablename__ = "cis"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(ForeignKey("ci_types.name"), index=True)
    environment: Mapped[str] = mapped_column(String(32), default="production")
    status: Mapped[str] = mapped_column(String(32), default="operational")
    criticality: Mapped[int] = mapped_column(default=3)
    owner_team: Mapped[str | None] = mapped_column(String(64))
    min_up: Mapped[str | None] = mapped_column(String(16))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index(
            "ix_cis_owner_team",
            "owner_team",
            postgresql_where=text("owner_team IS NOT NULL"),
            sqlite_where=text("owner_team IS NOT NULL"),
        ),
    )


class Relationship(Base):
    """A directed, typed link: the source needs the target."""

    __tablename__ = "ci_relationships"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("cis.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int] = mapped_column(ForeignKey("cis.id", ondelete="CASCADE"), index=True)
    optional: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("source_id", "type", "target_id", name="uq_ci_relationships_link"),
    )


class CmdbChange(Base):
    """One change to a CI or relationship: its history, and the feed the graph index follows.

    `audit_seq` is the audit event written in the same transaction; the audit chain's
    head lock makes it increase in commit order, so readers never miss a change.
    """

    __tablename__ = "cmdb_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    audit_seq: Mapped[int] = mapped_column(BigInteger, index=True)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    op: Mapped[str] = mapped_column(String(32))
    ci_key: Mapped[str] = mapped_column(String(200))
    other_key: Mapped[str | None] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]

    __table_args__ = (
        Index("ix_cmdb_changes_ci_key", "ci_key", "id"),
        # only relationship changes have an other_key
        Index(
            "ix_cmdb_changes_other_key",
            "other_key",
            "id",
            postgresql_where=text("other_key IS NOT NULL"),
            sqlite_where=text("other_key IS NOT NULL"),
        ),
    )
