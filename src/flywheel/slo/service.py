"""Service level objectives: define them, and say where each stands now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.change.service import SERVICE_TYPES
from flywheel.cmdb import service as cmdb
from flywheel.config import Settings
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput, NotFound
from flywheel.slo.budget import DEFAULT_RULES, AlertState, BurnRule, Severity
from flywheel.slo.models import ServiceLevelObjective
from flywheel.slo.readers import reader_for
from flywheel.slo.schemas import SloCreate
from flywheel.slo.sli import Method, ObjectiveKind, ReadContext, SliSpec, SourceKind
from flywheel.slo.sources import REGISTRY, AlertRound, BurnAlert
from flywheel.slo.status import Health, ObjectiveState, judge, windows_to_read, worst
from flywheel.slo.windows import (
    CompliancePeriod,
    WindowKind,
    compliance_period,
    format_window,
    parse_window,
)


def _rule_record(rule: BurnRule) -> dict[str, Any]:
    return {
        "severity": rule.severity.value,
        "burn_rate": rule.burn_rate,
        "long_window": format_window(rule.long_window),
        "short_window": format_window(rule.short_window),
    }


def rules_of(slo: ServiceLevelObjective) -> list[BurnRule]:
    """The SLO's burn-rate alert rules."""
    return [
        BurnRule(
            Severity(r["severity"]),
            float(r["burn_rate"]),
            parse_window(r["long_window"]),
            parse_window(r["short_window"]),
        )
        for r in slo.alert_rules
    ]


def _summary(slo: ServiceLevelObjective) -> dict[str, Any]:
    return {
        "service": slo.service,
        "name": slo.name,
        "objective": slo.objective,
        "latency": [slo.latency_threshold_ms, slo.latency_objective],
        "source": slo.source,
        "method": slo.method,
        "window": [slo.window_kind, slo.window_days],
    }


def _check_service(session: Session, key: str) -> None:
    try:
        ci = cmdb.get_ci(session, key=key)
    except NotFound as exc:
        raise InvalidInput(f"unknown service '{key}': {exc.message}") from exc
    if ci.type not in SERVICE_TYPES:
        raise InvalidInput(f"'{key}' is a {ci.type}, not a service")


def create_slo(session: Session, *, actor: Actor, data: SloCreate) -> ServiceLevelObjective:
    """Define an SLO; a second one of the same name on the service is a conflict."""
    _check_service(session, data.service)
    rules = [r.to_rule() for r in data.alert_rules] if data.alert_rules else DEFAULT_RULES
    assert data.method is not None  # the schema fills in the source's default
    slo = ServiceLevelObjective(
        service=data.service,
        name=data.name,
        description=data.description,
        objective=data.objective,
        latency_threshold_ms=data.latency.threshold_ms if data.latency else None,
        latency_objective=data.latency.objective if data.latency else None,
        source=data.source.value,
        method=data.method.value,
        slice_seconds=data.slice_seconds,
        window_kind=data.window.kind.value,
        window_days=data.window.days,
        prometheus=data.prometheus.model_dump() if data.prometheus else None,
        alert_rules=[_rule_record(r) for r in rules],
        created_by=actor.name,
    )
    try:
        with session.begin_nested():
            session.add(slo)
    except IntegrityError as exc:
        raise Conflict(f"{data.service} already has an SLO named '{data.name}'") from exc
    audit.record(
        session,
        actor=actor,
        action="slo.create",
        object_type="slo",
        object_id=slo.id,
        after=_summary(slo),
    )
    return slo


def get_slo(session: Session, *, slo_id: int) -> ServiceLevelObjective:
    """An SLO by id, or NotFound."""
    slo = session.get(ServiceLevelObjective, slo_id)
    if slo is None:
        raise NotFound(f"no SLO {slo_id}")
    return slo


def list_slos(
    session: Session, *, service: str | None = None, after_id: int = 0, limit: int = 100
) -> list[ServiceLevelObjective]:
    """SLOs, oldest first, optionally of one service."""
    query = select(ServiceLevelObjective).where(ServiceLevelObjective.id > after_id)
    if service:
        query = query.where(ServiceLevelObjective.service == service)
    return list(session.scalars(query.order_by(ServiceLevelObjective.id).limit(limit)))


@dataclass(frozen=True)
class SloState:
    """An SLO and where its objectives stand at a moment."""

    slo: ServiceLevelObjective
    evaluated_at: datetime
    period: CompliancePeriod
    objectives: list[ObjectiveState]

    @property
    def health(self) -> Health:
        """The worst of its objectives."""
        return worst([o.health for o in self.objectives])


def _objectives(slo: ServiceLevelObjective) -> list[tuple[ObjectiveKind, float, float | None]]:
    found: list[tuple[ObjectiveKind, float, float | None]] = [
        (ObjectiveKind.AVAILABILITY, slo.objective, None)
    ]
    if slo.latency_objective is not None:
        found.append((ObjectiveKind.LATENCY, slo.latency_objective, slo.latency_threshold_ms))
    return found


def evaluate(
    session: Session,
    *,
    slo: ServiceLevelObjective,
    settings: Settings,
    now: datetime | None = None,
    alerts: bool = True,
) -> SloState:
    """Budget (and, with alerts, burn rates and alert rules) of each objective at `now`."""
    now = now or utcnow()
    period = compliance_period(WindowKind(slo.window_kind), slo.window_days, now)
    rules = rules_of(slo) if alerts else []
    windows, trailing = windows_to_read(period, rules, now)
    reader = reader_for(SourceKind(slo.source))
    context = ReadContext(settings)
    states = []
    for kind, objective, threshold in _objectives(slo):
        spec = SliSpec(
            slo.service, kind, Method(slo.method), slo.slice_seconds, threshold, slo.prometheus
        )
        reading = reader.read(session, spec, windows, context)
        states.append(
            judge(
                kind=kind,
                objective=objective,
                threshold_ms=threshold,
                method=spec.method,
                slice_seconds=slo.slice_seconds,
                period=period,
                rules=rules,
                counts=reading.counts,
                trailing=trailing,
                note=reading.note,
            )
        )
    return SloState(slo, now, period, states)


def service_states(
    session: Session, *, service: str, settings: Settings, alerts: bool = True
) -> list[SloState]:
    """Every SLO of a service, evaluated now (NotFound for an unknown service)."""
    cmdb.get_ci(session, key=service)
    now = utcnow()
    return [
        evaluate(session, slo=slo, settings=settings, now=now, alerts=alerts)
        for slo in list_slos(session, service=service, limit=1000)
    ]


def _fingerprint(slo: ServiceLevelObjective, kind: ObjectiveKind, rule: BurnRule) -> str:
    """One alert per SLO, objective and window pair (the severity comes with the pair)."""
    windows = f"{format_window(rule.long_window)}/{format_window(rule.short_window)}"
    return f"slo:{slo.id}:{kind.value}:{rule.severity.value}:{windows}"


def _burn_alert(
    slo: ServiceLevelObjective, kind: ObjectiveKind, alert: AlertState, fingerprint: str
) -> BurnAlert:
    rule = alert.rule
    long_w, short_w = format_window(rule.long_window), format_window(rule.short_window)
    assert alert.long_burn is not None and alert.short_burn is not None
    return BurnAlert(
        fingerprint=fingerprint,
        service=slo.service,
        slo_id=slo.id,
        slo_name=slo.name,
        objective_kind=kind.value,
        severity=rule.severity.value,
        burn_rate=rule.burn_rate,
        long_window=long_w,
        short_window=short_w,
        long_burn=alert.long_burn,
        short_burn=alert.short_burn,
        summary=(
            f"{slo.service} {slo.name} ({kind.value}) burns its error "
            f"budget {alert.long_burn:.1f}x over {long_w} and "
            f"{alert.short_burn:.1f}x over {short_w} (alert at {rule.burn_rate:g}x)"
        ),
        labels={
            "alertname": "ErrorBudgetBurn",
            "service": slo.service,
            "slo": slo.name,
            "objective": kind.value,
            "severity": rule.severity.value,
            "window": f"{long_w}/{short_w}",
        },
    )


def alert_round(state: SloState) -> AlertRound:
    """The burn-rate alerts an SLO's state fires, and the rules it judged quiet.

    A rule is quiet when it does not fire and the objective has data in its period; with
    no data at all (an unreachable source) the rule is neither, so nothing resolves.
    """
    firing: list[BurnAlert] = []
    quiet: list[str] = []
    for objective in state.objectives:
        for alert in objective.alerts:
            fingerprint = _fingerprint(state.slo, objective.kind, alert.rule)
            if alert.firing:
                firing.append(_burn_alert(state.slo, objective.kind, alert, fingerprint))
            elif objective.budget is not None:
                quiet.append(fingerprint)
    return AlertRound(state.evaluated_at, firing, quiet)


def firing_alerts(state: SloState) -> list[BurnAlert]:
    """The burn-rate alerts an SLO's state fires, as the incident domain receives them."""
    return list(alert_round(state).firing)


def raise_alerts(
    session: Session,
    *,
    settings: Settings,
    service: str | None = None,
    now: datetime | None = None,
) -> AlertRound:
    """Evaluate every SLO (of a service) and hand the round of alerts to every sink.

    Sinks (the incident domain's intake) deduplicate by fingerprint, as they do for
    Alertmanager alerts, and resolve the quiet alerts they saw firing. SLOs measured from
    incident downtime raise nothing: their bad minutes are open incidents already, and an
    alert joining such an incident would keep it, and so the downtime, open.
    """
    now = now or utcnow()
    firing: list[BurnAlert] = []
    quiet: list[str] = []
    for slo in list_slos(session, service=service, limit=10_000):
        if slo.source == SourceKind.INCIDENTS.value:
            continue
        found = alert_round(evaluate(session, slo=slo, settings=settings, now=now))
        firing.extend(found.firing)
        quiet.extend(found.quiet)
    result = AlertRound(now, firing, quiet)
    for sink in REGISTRY.alert_sinks.values():
        sink(session, result)
    return result


def budget_history(
    session: Session, *, slo: ServiceLevelObjective, settings: Settings, moments: list[datetime]
) -> list[float | None]:
    """The availability objective's error budget left (a share) at each moment, in one read."""
    periods = [
        compliance_period(WindowKind(slo.window_kind), slo.window_days, at) for at in moments
    ]
    method = Method(slo.method)
    spec = SliSpec(
        slo.service, ObjectiveKind.AVAILABILITY, method, slo.slice_seconds, None, slo.prometheus
    )
    reading = reader_for(SourceKind(slo.source)).read(
        session, spec, [p.elapsed for p in periods], ReadContext(settings)
    )
    left: list[float | None] = []
    for period, counts in zip(periods, reading.counts, strict=True):
        state = judge(
            kind=ObjectiveKind.AVAILABILITY,
            objective=slo.objective,
            threshold_ms=None,
            method=method,
            slice_seconds=slo.slice_seconds,
            period=period,
            rules=[],
            counts=[counts],
            trailing=[],
            note=reading.note,
        )
        left.append(None if state.budget is None else state.budget.remaining)
    return left
