"""Everything a change decision rests on: risk, policy, windows and conflicts (reads only)."""

from __future__ import annotations

import bisect
import functools
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.batch_reads import remember, sharing
from flywheel.change import conflicts as conflict_rules
from flywheel.change import windows as window_rules
from flywheel.change.batch_memo import batch_now
from flywheel.change.conflict_reads import (
    CmdbDependencies,
    dependencies_of,
    find_conflicts,
    interval_of,
)
from flywheel.change.lifecycle import ChangeType
from flywheel.change.models import ChangeRequest, ChangeWindow
from flywheel.change.policy import PolicyContext, PolicyDecision, evaluate
from flywheel.change.policy_store import DEFAULT_SCOPE as DEFAULT_SCOPE
from flywheel.change.policy_store import active_policy as active_policy
from flywheel.cmdb import service as cmdb
from flywheel.risk import service as risk_service
from flywheel.risk.rules import ChangeFacts, RiskAssessment

if TYPE_CHECKING:  # the row cmdb.service returns; the change domain never queries it
    from flywheel.cmdb.models import ConfigurationItem

REQUIRES_MAINTENANCE = "requires_maintenance_window"  # a service CI attribute


@dataclass
class Assessment:
    """The facts and verdicts behind one change decision."""

    risk: RiskAssessment
    decision: PolicyDecision
    policy_scope: str
    policy_version: int
    verdict: conflict_rules.WindowVerdict
    conflicts: list[conflict_rules.Conflict]
    tenants_affected: int | None
    warnings: list[str] = field(default_factory=list)

    def blockers(self, change_type: ChangeType) -> list[dict[str, Any]]:
        """Blackouts (and a missed required maintenance window) that stop this change.

        Emergency changes are only warned.
        """
        if change_type is ChangeType.EMERGENCY:
            return []
        found: list[dict[str, Any]] = [
            {
                "kind": "blackout",
                "window": hit.window.name,
                "from": hit.overlap.start.isoformat(),
                "to": hit.overlap.end.isoformat(),
                "override_roles": sorted(hit.window.override_roles),
            }
            for hit in self.verdict.blackouts
        ]
        if not self.verdict.fits_maintenance:
            slot = self.verdict.next_slot
            found.append(
                {
                    "kind": "maintenance",
                    "window": "required maintenance window",
                    "next_slot": slot.interval.start.isoformat() if slot else None,
                    "next_window": slot.window.name if slot else None,
                    "override_roles": [],
                }
            )
        return found

    def as_record(self, change_type: ChangeType) -> dict[str, Any]:
        """What is stored on the change and in the audit trail."""
        return {
            **self.decision.to_dict(),
            "policy": {"scope": self.policy_scope, "version": self.policy_version},
            "blockers": self.blockers(change_type),
            "conflicts": [_conflict_record(c) for c in self.conflicts],
            "warnings": self.warnings,
            "tenants_affected": self.tenants_affected,
        }


def _conflict_record(found: conflict_rules.Conflict) -> dict[str, Any]:
    return {
        "change": _number(found.other),
        "kind": str(found.kind),
        "ci": found.ci,
        "other_ci": found.other_ci,
        "direction": str(found.direction) if found.direction else None,
        "from": _iso(found.overlap.start),
        "to": _iso(found.overlap.end),
    }


def _number(change_id: Any) -> str:
    return f"CHG{int(change_id):07d}"


@functools.lru_cache(maxsize=4096)
def _iso(instant: datetime) -> str:
    """isoformat, remembered: a busy service's changes conflict with the same few instants."""
    return instant.isoformat()


def to_window(row: ChangeWindow) -> window_rules.Window:
    """The pure form of a stored window."""
    scope = window_rules.Scope.parse(
        "all" if row.scope_type == "all" else f"{row.scope_type}:{row.scope_key}",
        include_dependents=row.include_dependents,
    )
    common: dict[str, Any] = {
        "name": row.name,
        "kind": row.kind,
        "scope": scope,
        "timezone": row.timezone,
        "override_roles": frozenset(row.override_roles or []),
    }
    if row.rrule:
        duration = timedelta(minutes=row.duration_minutes or 0)
        return window_rules.Window(**common, rrule=row.rrule, dtstart=row.start, duration=duration)
    return window_rules.Window(**common, start=row.start, end=row.end)


def windows_in_scope(
    session: Session, *, service: str, ci_keys: list[str], deps: CmdbDependencies | None = None
) -> list[window_rules.Window]:
    """Active windows whose scope reaches a change on `service` touching `ci_keys`."""
    windows = remember(session, "change.windows", lambda: _active_windows(session))
    view = deps or dependencies_of(session)  # syncs the index only if a scope needs it

    def covered(scope: window_rules.Scope) -> set[str]:
        if scope.key is None:
            return set()
        keys = {scope.key}
        if scope.include_dependents:
            keys |= view.dependents_of(scope.key)
        return keys

    touched = [service, *ci_keys]
    return window_rules.in_scope(windows, service=service, ci_keys=touched, covered=covered)


def _active_windows(session: Session) -> list[window_rules.Window]:
    rows = session.scalars(select(ChangeWindow).where(ChangeWindow.active.is_(True)))
    return [to_window(r) for r in rows]


RECENT_SCORES = 500
SCORES_FRESH_FOR = 5.0  # seconds a full window of recent scores is reused
_recent_scores: dict[tuple[str, str], tuple[float, int, list[float]]] = {}


def _scores(session: Session, model_version: str, newest_id: int) -> list[float]:
    """The last RECENT_SCORES scores of the model, ascending.

    A full window is reused for a few seconds within this process (a handful of new
    scores barely moves a distribution of 500); a partial one is read every time.
    """
    key = (str(session.get_bind().engine.url), model_version)
    cached = _recent_scores.get(key)
    now = time.monotonic()
    if cached is not None:
        read_at, read_up_to, scores = cached
        if now - read_at < SCORES_FRESH_FOR and 0 < read_up_to <= newest_id:
            return scores
    query = (
        select(ChangeRequest.id, ChangeRequest.risk_score)
        .where(
            ChangeRequest.risk_model_version == model_version,
            ChangeRequest.risk_score.is_not(None),
        )
        .order_by(ChangeRequest.id.desc())
        .limit(RECENT_SCORES)
    )
    rows = session.connection().execute(query).all()
    scores = sorted(float(r.risk_score) for r in rows)
    if len(scores) == RECENT_SCORES:
        _recent_scores[key] = (now, int(rows[0].id), scores)
    return scores


def top_percent(
    session: Session, score: float, model_version: str, newest_id: int = 0
) -> float | None:
    """The share (%) of the last changes scored by the same model that scored >= score."""
    recent = remember(
        session,
        ("change.scores", model_version),
        lambda: _scores(session, model_version, newest_id),
    )
    if len(recent) < 20:  # too few to speak of a distribution: rules on it do not hold
        return None
    at_least = len(recent) - bisect.bisect_left(recent, score)
    return round(100 * at_least / len(recent), 2)


def _top_percent_then_count(session: Session, risk: RiskAssessment, newest_id: int) -> float | None:
    """top_percent; in a batch, this score then joins the next decisions' partial window."""
    share = top_percent(session, risk.score, risk.model_version, newest_id)
    batch = sharing(session)
    recent = batch.get(("change.scores", risk.model_version)) if batch is not None else None
    if recent is not None and len(recent) < RECENT_SCORES:
        bisect.insort(recent, risk.score)
    return share


def _tenants_affected(session: Session, change: ChangeRequest) -> int | None:
    impact = cmdb.impact(session, keys=[change.service], top_tenants=0, sync=False)
    return impact.tenants_affected


def _facts(change: ChangeRequest, criticality: int, tenants: int | None) -> ChangeFacts:
    metrics = change.code_metrics or {}
    return ChangeFacts(
        change_type=change.type,
        lines_added=int(metrics["la"]) if "la" in metrics else None,
        lines_deleted=int(metrics["ld"]) if "ld" in metrics else None,
        files=int(metrics["nf"]) if "nf" in metrics else None,
        commits=len(change.commits),
        service_criticality=criticality,
        tenants_affected=tenants,
        code_metrics={k: float(v) for k, v in metrics.items()},
    )


def assess(
    session: Session, change: ChangeRequest, *, touched: list[ConfigurationItem] | None = None
) -> Assessment:
    """Score the change, check windows and conflicts, and let the policy decide.

    `touched`: the service's CI row first, then the other CIs, if the caller has them.
    """
    if touched is None:
        touched = cmdb.get_cis(session, keys=[change.service, *change.ci_keys])
        touched.sort(key=lambda c: c.key != change.service)
    service = touched[0]
    deps = dependencies_of(session)
    deps.sync()
    tenants = remember(
        session, ("change.tenants", change.service), lambda: _tenants_affected(session, change)
    )
    risk = risk_service.assess_change(session, facts=_facts(change, service.criticality, tenants))
    now = batch_now(session)
    span = interval_of(change, now)
    verdict = conflict_rules.window_verdict(
        span,
        windows_in_scope(session, service=change.service, ci_keys=change.ci_keys, deps=deps),
        requires_maintenance=bool(service.attributes.get(REQUIRES_MAINTENANCE)),
        not_before=now,
    )
    found = find_conflicts(session, change, deps)
    policy, scope, version = active_policy(session, service=change.service)
    context = PolicyContext(
        change_type=change.type,
        service=change.service,
        planned_start=span.start,
        risk_score=risk.score,
        risk_top_percent=_top_percent_then_count(session, risk, change.id or 0),
        risk_level=risk.level,
        service_criticality=service.criticality,
        ci_types=frozenset(c.type for c in touched),
        tenants_affected=tenants,
        # Flywheel tracks no incidents until the incident domain exists: none are open.
        open_incidents=0,
        in_freeze=verdict.blocked,
        receipt=change.receipt,
    )
    decision = evaluate(policy, context)
    warnings = [f"conflicts with {_number(c.other)} on {c.ci}" for c in found]
    if change.type == ChangeType.EMERGENCY and verdict.blocked:
        warnings.append("inside a blackout window: allowed for an emergency change")
    return Assessment(risk, decision, scope, version, verdict, found, tenants, warnings)
