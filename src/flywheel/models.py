"""Every domain's tables, imported so the metadata is complete (for Alembic)."""

from __future__ import annotations

from flywheel.audit import models as audit_models
from flywheel.auth import models as auth_models
from flywheel.change import models as change_models
from flywheel.cmdb import models as cmdb_models
from flywheel.db import Base
from flywheel.deploy import models as deploy_models
from flywheel.http import models as http_models
from flywheel.incident import (
    autorollback_models,
    escalation_models,
    oncall_models,
    probe_models,
)
from flywheel.incident import models as incident_models
from flywheel.problem import models as problem_models
from flywheel.release import models as release_models
from flywheel.risk import models as risk_models
from flywheel.slo import models as slo_models
from flywheel.vault import models as vault_models
from flywheel.web import models as web_models
from flywheel.workers import models as worker_models

metadata = Base.metadata

__all__ = [
    "audit_models",
    "auth_models",
    "autorollback_models",
    "change_models",
    "cmdb_models",
    "deploy_models",
    "escalation_models",
    "http_models",
    "incident_models",
    "metadata",
    "oncall_models",
    "probe_models",
    "problem_models",
    "release_models",
    "risk_models",
    "slo_models",
    "vault_models",
    "web_models",
    "worker_models",
]
