"""How the domains are hooked into each other at start, for API and worker processes alike.

Domains never import each other's tables; where one must react to another (an alert
reaction, a deployment gate, an SLO source), the hook is registered here.
"""

from __future__ import annotations

from flywheel.auth.token_cache import token_cache
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.deploy import run_steps
from flywheel.deploy import service as deploy_service
from flywheel.incident import (
    autorollback,
    escalation_service,
    notify_service,
    probe_service,
    slo_providers,
)
from flywheel.incident import gates as incident_gates
from flywheel.incident import reactions as incident_reactions
from flywheel.problem import fix_references as problem_fix_references
from flywheel.problem import outbox as problem_outbox
from flywheel.problem import reaction as problem_reaction
from flywheel.release import service as release_service
from flywheel.slo import gate as slo_gate
from flywheel.slo import sources as slo_sources
from flywheel.vault import keyring as vault_keyring
from flywheel.workers import queues as worker_queues


def install_domains(db: Database, settings: Settings) -> None:
    """Register every cross-domain hook (idempotent: a test builds many apps)."""
    release_service.EXTRA_GATES["incidents"] = incident_gates.open_p1_gate
    incident_reactions.register("escalation", escalation_service.on_intake)
    if incident_gates.alerts_since not in run_steps.BAKE_CHECKS:
        run_steps.BAKE_CHECKS.append(incident_gates.alerts_since)
    vault_keyring.use(settings)
    token_cache.seconds = settings.token_cache_seconds
    incident_reactions.register(problem_reaction.REACTION, problem_reaction.react)
    slo_gate.FIX_FINDERS["problem"] = problem_fix_references.problems_fixed_by
    slo_gate.install(settings)
    slo_providers.install(settings)
    slo_sources.register_probes("incident.probes", probe_service.results_for_service)
    autorollback.install(db, settings)
    _register_queues()


def _register_queues() -> None:
    """What `/metrics` reports as queue depth and lag, read through each domain's service."""
    worker_queues.register("deploy", deploy_service.waiting_runs)
    worker_queues.register("escalation", escalation_service.due_escalations)
    worker_queues.register("notification", notify_service.due_deliveries)
    worker_queues.register("tracker", problem_outbox.due_deliveries)
    worker_queues.register("probe", probe_service.overdue_probes)
