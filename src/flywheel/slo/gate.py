"""The error-budget policy as a deployment gate.

Rule: when any SLO of the service being deployed has spent its error budget (for the
compliance period in force), only emergency changes and changes linked to a problem
(`links["problems"]` or `links["problem"]` on the change, or a problem another domain says
the change fixes, through `FIX_FINDERS`) may deploy, until every SLO of
the service is back within its objective. SLOs without data do not block: no data is
reported, not guessed either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from flywheel.change import service as change_service
from flywheel.change.lifecycle import ChangeType
from flywheel.change.models import ChangeRequest
from flywheel.config import Settings, get_settings
from flywheel.release import service as release_service
from flywheel.slo import service
from flywheel.slo.status import Health

GATE = "error_budget"

# Other domains name the problems a change fixes (the problem domain reads PRB references).
FIX_FINDERS: dict[str, Callable[[Session, int], list[str]]] = {}
_settings: Settings | None = None


def _gate(status: str, reason: str) -> dict[str, Any]:
    return {"gate": GATE, "status": status, "reason": reason}


def problem_links(change: ChangeRequest) -> list[str]:
    """The problems a change says it fixes (from its links)."""
    links = change.links or {}
    found = links.get("problems") or []
    if not isinstance(found, list):
        found = [found]
    single = links.get("problem")
    if single:
        found = [*found, single]
    return [str(p) for p in found if p]


def _exemption(session: Session, change_id: int | None) -> str | None:
    if change_id is None:
        return None
    change = change_service.get_change(session, change_id=change_id)
    if change.type == ChangeType.EMERGENCY:
        return f"{change.number} is an emergency change"
    problems = problem_links(change)
    for find in FIX_FINDERS.values():
        problems += [p for p in find(session, change.id) if p not in problems]
    if problems:
        return f"{change.number} fixes problem {', '.join(problems)}"
    return None


def check(session: Session, service_key: str, change_id: int | None) -> dict[str, Any]:
    """Pass unless the service's error budget is spent and the change is not exempt."""
    settings = _settings or get_settings()
    slos = service.list_slos(session, service=service_key, limit=1000)
    if not slos:
        return _gate("skip", f"{service_key} has no SLO")
    states = [service.evaluate(session, slo=s, settings=settings, alerts=False) for s in slos]
    spent = [s for s in states if s.health is Health.BUDGET_SPENT]
    if not spent:
        known = [o.budget.remaining for s in states for o in s.objectives if o.budget]
        if not known:
            return _gate("pass", f"no SLI data yet for {service_key}'s SLO(s)")
        return _gate("pass", f"{service_key} has {min(known):.0%} of its error budget left")
    used = ", ".join(
        f"'{s.slo.name}' {o.budget.consumed:.0%} used"
        for s in spent
        for o in s.objectives
        if o.budget and o.budget.spent
    )
    exempt = _exemption(session, change_id)
    if exempt:
        return _gate("pass", f"error budget of {service_key} spent ({used}), but {exempt}")
    return _gate(
        "fail",
        f"error budget of {service_key} spent ({used}): only emergency changes and fixes "
        f"linked to a problem may deploy until {service_key} is back within its objective",
    )


def install(settings: Settings) -> None:
    """Register the gate with the release domain, judging with these settings."""
    global _settings
    _settings = settings
    release_service.EXTRA_CHANGE_GATES[GATE] = check
