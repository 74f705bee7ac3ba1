"""Every domain's tables, imported so the metadata is complete (for Alembic)."""

from __future__ import annotations

from flywheel.audit import models as audit_models
from flywheel.auth import models as auth_models
from flywheel.db import Base

metadata = Base.metadata

__all__ = ["audit_models", "auth_models", "metadata"]
