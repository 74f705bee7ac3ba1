"""Alert intake: one batch in a handful of set-based statements, race-free.

Order of work in the caller's transaction (locks are always taken in this order, so
concurrent batches queue instead of deadlocking):
1. lock the head rows of the batch's services (`INSERT … ON CONFLICT DO UPDATE`, sorted):
   two batches that could open an incident for the same service run one after the other;
2. read the stored alerts of the batch's fingerprints and the incidents involved (locked);
3. decide in memory (`grouping.decide`);
4. upsert every alert in one `INSERT … ON CONFLICT (source, fingerprint) DO UPDATE`,
   write new incidents, incident updates and timeline entries with executemany;
5. audit last (the audit chain head is a global lock held until commit): one event for
   the batch and one per incident that opened, reopened, resolved, started flapping or
   was raised in priority.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.incident import directory, severity
from flywheel.incident.grouping import (
    Group,
    IncidentState,
    Plan,
    Policy,
    StoredAlert,
    TimelineEntry,
    decide,
)
from flywheel.incident.incoming import AlertStatus, Incoming, deduplicate
from flywheel.incident.models import Alert, Incident, IncidentEvent, IncidentHead

ALERTS = cast(Table, Alert.__table__)
INCIDENTS = cast(Table, Incident.__table__)
HEADS = cast(Table, IncidentHead.__table__)
EVENTS = cast(Table, IncidentEvent.__table__)


@dataclass
class IntakeResult:
    """What a batch did."""

    received: int = 0
    alerts_new: int = 0
    alerts_updated: int = 0
    ci_unknown: int = 0
    incidents_opened: list[str] = field(default_factory=list)
    incidents_updated: list[str] = field(default_factory=list)
    incidents_reopened: list[str] = field(default_factory=list)
    incidents_resolved: list[str] = field(default_factory=list)
    normalised: list[dict[str, Any]] = field(default_factory=list)


def merge(first: IntakeResult, second: IntakeResult) -> IntakeResult:
    """Two batches' results as one."""

    def union(a: list[str], b: list[str]) -> list[str]:
        return list(dict.fromkeys(a + b))

    return IntakeResult(
        received=first.received + second.received,
        alerts_new=first.alerts_new + second.alerts_new,
        alerts_updated=first.alerts_updated + second.alerts_updated,
        ci_unknown=first.ci_unknown + second.ci_unknown,
        incidents_opened=union(first.incidents_opened, second.incidents_opened),
        incidents_updated=union(first.incidents_updated, second.incidents_updated),
        incidents_reopened=union(first.incidents_reopened, second.incidents_reopened),
        incidents_resolved=union(first.incidents_resolved, second.incidents_resolved),
        normalised=first.normalised + second.normalised,
    )


def _upsert(session: Session, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _number(incident_id: int) -> str:
    return f"INC{incident_id:07d}"


def receive(
    session: Session,
    *,
    actor: Actor,
    source: str,
    alerts: list[Incoming],
    policy: Policy,
    now: datetime,
    ci_cache_seconds: float = 30.0,
) -> IntakeResult:
    """Store a batch of alerts and update or open incidents; the caller commits."""
    batch = deduplicate(alerts)
    if not batch:
        return IntakeResult()
    candidates = {k for a in batch for k in a.candidates}
    known = directory.directory_for(session, ci_cache_seconds).lookup(session, candidates)
    directory.assign(batch, known)
    head_ids = _lock_heads(session, sorted({a.group_key for a in batch}))
    stored = _stored_alerts(session, source, [a.fingerprint for a in batch])
    wanted = {i for i in head_ids.values() if i} | {
        s.incident_id for s in stored.values() if s.incident_id
    }
    groups = _load_groups(session, wanted)
    heads = {service: groups.get(i) if i else None for service, i in head_ids.items()}
    plan = decide(
        batch,
        stored=stored,
        heads=heads,
        incidents=groups,
        policy=policy,
        now=now,
        resolver=actor.name,
    )
    raised = _set_priorities(session, plan)
    ids = _write_incidents(session, plan, now)
    _write_alerts(session, plan, source, ids, now)
    _write_timeline(session, plan, ids, actor, now)
    result = _result(plan, ids)
    _audit(session, actor, source, plan, ids, raised, result)
    return result


def _lock_heads(session: Session, services: list[str]) -> dict[str, int | None]:
    if not services:
        return {}
    statement = _upsert(session, HEADS)
    statement = statement.on_conflict_do_update(
        index_elements=[HEADS.c.service], set_={"service": statement.excluded.service}
    ).returning(HEADS.c.service, HEADS.c.incident_id)
    rows = session.execute(statement.values([{"service": s} for s in services]))
    return {str(service): incident_id for service, incident_id in rows}


def _stored_alerts(
    session: Session, source: str, fingerprints: list[str]
) -> dict[str, StoredAlert]:
    query = select(
        ALERTS.c.fingerprint,
        ALERTS.c.status,
        ALERTS.c.incident_id,
        ALERTS.c.flips,
        ALERTS.c.flip_window_start,
    ).where(ALERTS.c.source == source, ALERTS.c.fingerprint.in_(bindparam("fps", expanding=True)))
    rows = session.execute(query, {"fps": fingerprints})
    return {
        fp: StoredAlert(AlertStatus(status), incident_id, flips, window)
        for fp, status, incident_id, flips, window in rows
    }


def _load_groups(session: Session, ids: set[int]) -> dict[int, Group]:
    if not ids:
        return {}
    query = select(Incident).where(Incident.id.in_(sorted(ids))).order_by(Incident.id)
    rows = session.scalars(query.with_for_update())
    return {i.id: _group_of(i) for i in rows}


def _group_of(incident: Incident) -> Group:
    return Group(
        ref=incident.id,
        service=incident.service,
        state=IncidentState(incident.state),
        title=incident.title,
        opened_at=incident.opened_at,
        last_alert_at=incident.last_alert_at,
        resolved_at=incident.resolved_at,
        flapping=incident.flapping,
        firing_count=incident.firing_count,
        last_fingerprint=incident.last_fingerprint,
        urgency=incident.urgency,
        ci_keys=list(incident.ci_keys),
        service_known=incident.service_known,
        resolved_by=incident.resolved_by,
        priority=incident.priority,
        impact_level=incident.impact_level,
    )


@dataclass(frozen=True)
class _Raise:
    before: int
    after: int


def _set_priorities(session: Session, plan: Plan) -> dict[int, _Raise]:
    """Priority of new incidents; raise (never lower) touched ones whose CIs or urgency grew."""
    raised: dict[int, _Raise] = {}
    for group in plan.touched:
        grew = "cis" in group.changes
        if not group.is_new and not grew and "urgency" not in group.changes:
            continue
        level = group.impact_level
        if group.is_new or grew:
            measured, group.impact = _impact_of(session, group.ci_keys)
            level = measured if group.is_new else min(measured, level)
        wanted = severity.priority(level, group.urgency)
        group.impact_level = level
        why = _why(level, group.urgency, group.impact)
        if group.is_new:
            group.priority = wanted
            plan.timeline.append(
                TimelineEntry(group.ref, "priority.set", f"{severity.label(wanted)}: {why}")
            )
        elif wanted < group.priority:
            raised[group.ref] = _Raise(group.priority, wanted)
            summary = f"raised {severity.label(group.priority)} → {severity.label(wanted)}: {why}"
            plan.timeline.append(TimelineEntry(group.ref, "priority.raised", summary))
            group.priority = wanted
            group.changes.append("priority")
    return raised


def _why(level: int, urgency: int, impact: dict[str, Any] | None) -> str:
    shown = f" ({impact['summary']})" if impact and impact.get("summary") else ""
    names = severity.LEVEL_NAMES
    return f"impact {names[level]}{shown}, urgency {names[urgency]}"


def _impact_of(session: Session, ci_keys: list[str]) -> tuple[int, dict[str, Any]]:
    if not ci_keys:
        return severity.UNKNOWN_IMPACT, {"known": False, "summary": "no known configuration item"}
    return directory.evaluate_impact(session, ci_keys)


def _write_incidents(session: Session, plan: Plan, now: datetime) -> dict[int, int]:
    """Insert new incidents, update touched ones; the id of every ref."""
    ids: dict[int, int] = {}
    for group in plan.touched:
        if group.is_new:
            ids[group.ref] = session.execute(
                insert(INCIDENTS).returning(INCIDENTS.c.id), [_new_row(group, now)]
            ).scalar_one()
        else:
            ids[group.ref] = group.ref
    for service, ref in plan.heads.items():
        session.execute(
            update(HEADS).where(HEADS.c.service == service).values(incident_id=ids[ref])
        )
    existing = [g for g in plan.touched if not g.is_new]
    if existing:
        session.execute(_UPDATE_INCIDENT, [_update_row(g, now) for g in existing])
    for group in existing:
        if group.impact is not None:
            session.execute(
                update(INCIDENTS).where(INCIDENTS.c.id == group.ref).values(impact=group.impact)
            )
    return ids


def _new_row(group: Group, now: datetime) -> dict[str, Any]:
    return {
        "title": group.title,
        "state": group.state.value,
        "priority": group.priority,
        "urgency": group.urgency,
        "impact_level": group.impact_level,
        "impact": group.impact,
        "service": group.service,
        "service_known": group.service_known,
        "ci_keys": group.ci_keys,
        "opened_at": group.opened_at,
        "resolved_at": group.resolved_at,
        "resolved_by": group.resolved_by,
        "reopen_count": 0,
        "flapping": group.flapping,
        "alert_count": group.alerts_added,
        "firing_count": group.firing_count,
        "last_alert_at": group.last_alert_at,
        "last_fingerprint": group.last_fingerprint,
        "source": "alerts",
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


# Counts move by deltas (the row is locked, but deltas stay right even if it were not).
_UPDATE_INCIDENT = (
    update(INCIDENTS)
    .where(INCIDENTS.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        resolved_at=bindparam("b_resolved_at"),
        resolved_by=bindparam("b_resolved_by"),
        flapping=bindparam("b_flapping"),
        priority=bindparam("b_priority"),
        impact_level=bindparam("b_impact_level"),
        urgency=bindparam("b_urgency"),
        ci_keys=bindparam("b_ci_keys", type_=INCIDENTS.c.ci_keys.type),
        last_alert_at=bindparam("b_last_alert_at", type_=INCIDENTS.c.last_alert_at.type),
        last_fingerprint=bindparam("b_last_fingerprint"),
        alert_count=INCIDENTS.c.alert_count + bindparam("b_added"),
        firing_count=INCIDENTS.c.firing_count + bindparam("b_firing"),
        reopen_count=INCIDENTS.c.reopen_count + bindparam("b_reopened"),
        version=INCIDENTS.c.version + bindparam("b_bump"),
        updated_at=bindparam("b_now", type_=INCIDENTS.c.updated_at.type),
    )
)
_VERSIONED = {"resolved", "reopened", "flapping", "priority"}


def _update_row(group: Group, now: datetime) -> dict[str, Any]:
    return {
        "b_id": group.ref,
        "b_state": group.state.value,
        "b_resolved_at": group.resolved_at,
        "b_resolved_by": group.resolved_by,
        "b_flapping": group.flapping,
        "b_priority": group.priority,
        "b_impact_level": group.impact_level,
        "b_urgency": group.urgency,
        "b_ci_keys": group.ci_keys,
        "b_last_alert_at": group.last_alert_at,
        "b_last_fingerprint": group.last_fingerprint,
        "b_added": group.alerts_added,
        "b_firing": group.firing_delta,
        "b_reopened": group.changes.count("reopened"),
        "b_bump": 1 if _VERSIONED & set(group.changes) else 0,
        "b_now": now,
    }


def _write_alerts(
    session: Session, plan: Plan, source: str, ids: dict[int, int], now: datetime
) -> None:
    rows = []
    for outcome in plan.alerts:
        alert = outcome.alert
        ref = outcome.incident_ref
        rows.append(
            {
                "source": source,
                "fingerprint": alert.fingerprint,
                "status": alert.status.value,
                "alertname": alert.alertname[:200],
                "severity": alert.severity[:32],
                "summary": alert.summary,
                "labels": alert.labels,
                "annotations": alert.annotations,
                "ci_key": alert.ci_key[:200] if alert.ci_key else None,
                "ci_unknown": alert.ci_unknown,
                "group_key": alert.group_key,
                "flags": alert.flags,
                "generator_url": alert.generator_url[:1000] if alert.generator_url else None,
                "starts_at": alert.starts_at,
                "ends_at": alert.ends_at,
                "first_seen": now,
                "last_seen": now,
                "received": alert.received,
                "flips": outcome.flips,
                "flip_window_start": outcome.flip_window_start,
                "incident_id": ids.get(ref, ref) if ref is not None else None,
            }
        )
    if not rows:
        return
    statement = _upsert(session, ALERTS)
    kept = {"id", "source", "fingerprint", "first_seen", "received"}
    changed = {c.name: statement.excluded[c.name] for c in ALERTS.columns if c.name not in kept}
    changed["received"] = ALERTS.c.received + statement.excluded.received
    statement = statement.on_conflict_do_update(
        index_elements=[ALERTS.c.source, ALERTS.c.fingerprint], set_=changed
    )
    session.execute(statement, rows)


def _write_timeline(
    session: Session, plan: Plan, ids: dict[int, int], actor: Actor, now: datetime
) -> None:
    if not plan.timeline:
        return
    rows = [
        {
            "incident_id": ids.get(e.incident_ref, e.incident_ref),
            "at": now,
            "kind": e.kind,
            "actor": actor.name,
            "summary": e.summary,
            "data": e.data,
        }
        for e in plan.timeline
    ]
    session.execute(insert(EVENTS), rows)


def _result(plan: Plan, ids: dict[int, int]) -> IntakeResult:
    result = IntakeResult(received=sum(o.alert.received for o in plan.alerts))
    for outcome in plan.alerts:
        alert = outcome.alert
        if outcome.is_new:
            result.alerts_new += 1
        else:
            result.alerts_updated += 1
        result.ci_unknown += alert.ci_unknown
        normalised = [f for f in alert.flags if f != "ci_unknown"]
        if normalised:
            result.normalised.append({"fingerprint": alert.fingerprint, "flags": normalised})
    for group in plan.touched:
        number = _number(ids[group.ref])
        if group.is_new:
            result.incidents_opened.append(number)
        else:
            result.incidents_updated.append(number)
        if "reopened" in group.changes:
            result.incidents_reopened.append(number)
        if "resolved" in group.changes:
            result.incidents_resolved.append(number)
    return result


_AUDITED = {
    "opened": "incident.open",
    "reopened": "incident.reopen",
    "resolved": "incident.resolve",
    "flapping": "incident.flapping",
}


def _audit(
    session: Session,
    actor: Actor,
    source: str,
    plan: Plan,
    ids: dict[int, int],
    raised: dict[int, _Raise],
    result: IntakeResult,
) -> None:
    for group in plan.touched:
        number = _number(ids[group.ref])
        summary = {"service": group.service, "state": group.state.value}
        for change in dict.fromkeys(group.changes):
            if change in _AUDITED:
                after = {**summary, "priority": severity.label(group.priority)}
                if change == "opened":
                    after["title"] = group.title
                audit.record(
                    session,
                    actor=actor,
                    action=_AUDITED[change],
                    object_type="incident",
                    object_id=number,
                    after=after,
                )
        if group.ref in raised:
            step = raised[group.ref]
            audit.record(
                session,
                actor=actor,
                action="incident.priority",
                object_type="incident",
                object_id=number,
                before={"priority": severity.label(step.before)},
                after={"priority": severity.label(step.after)},
                reason="impact or urgency grew",
            )
    audit.record(
        session,
        actor=actor,
        action="alerts.receive",
        object_type="alert_source",
        object_id=source,
        after={
            "received": result.received,
            "alerts_new": result.alerts_new,
            "alerts_updated": result.alerts_updated,
            "incidents_opened": result.incidents_opened,
            "incidents_updated": result.incidents_updated,
        },
    )
