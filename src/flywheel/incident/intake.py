"""Alert intake: one batch in a handful of set-based statements, race-free.

Order of work in the caller's transaction (locks are always taken in this order, so
concurrent batches queue instead of deadlocking):
1. lock the head rows of the batch's services (`INSERT … ON CONFLICT DO UPDATE`, sorted):
   two batches that could open an incident for the same service run one after the other;
2. read the stored alerts of the batch's fingerprints and the incidents involved (locked);
3. decide in memory (`grouping.decide`);
4. write new and changed alerts in one `INSERT … ON CONFLICT (source, fingerprint) DO
   UPDATE`, and count unchanged re-sends (same digest) with one executemany UPDATE of two
   columns; new incidents, incident updates and timeline entries with executemany;
5. audit last (the audit chain head is a global lock held until commit): one event for
   the batch and one per incident that opened, reopened, resolved, started flapping or
   was raised in priority.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.incident import directory, reactions, severity
from flywheel.incident.grouping import (
    AlertOutcome,
    Group,
    Plan,
    Policy,
    StoredAlert,
    TimelineEntry,
    decide,
)
from flywheel.incident.incoming import Incoming, deduplicate
from flywheel.incident.store import IntakeStore


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
    cis = directory.directory_for(session, ci_cache_seconds)
    directory.assign(batch, cis.lookup(session, candidates))
    store = IntakeStore(session)
    head_ids = store.lock_heads([a.group_key for a in batch])
    stored = store.stored_alerts(source, [a.fingerprint for a in batch])
    wanted = {i for i in head_ids.values() if i} | {
        s.incident_id for s in stored.values() if s.incident_id
    }
    groups = store.load_groups(wanted)
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
    raised = _set_priorities(session, cis, plan)
    ids = _write_incidents(store, plan, now)
    _write_alerts(store, plan, stored, source, ids, now)
    store.add_timeline(_timeline_rows(plan, ids, actor, now))
    result = _result(plan, ids)
    _audit(session, actor, source, plan, ids, raised, result)
    reactions.react(session, result, actor, now)
    return result


@dataclass(frozen=True)
class _Raise:
    before: int
    after: int


def _set_priorities(session: Session, cis: directory.CIDirectory, plan: Plan) -> dict[int, _Raise]:
    """Priority of new incidents; raise (never lower) touched ones whose CIs or urgency grew."""
    raised: dict[int, _Raise] = {}
    for group in plan.touched:
        grew = "cis" in group.changes
        if not group.is_new and not grew and "urgency" not in group.changes:
            continue
        level = group.impact_level
        if group.is_new or grew:
            measured, group.impact = _impact_of(session, cis, group.ci_keys)
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


def _impact_of(
    session: Session, cis: directory.CIDirectory, ci_keys: list[str]
) -> tuple[int, dict[str, Any]]:
    if not ci_keys:
        return severity.UNKNOWN_IMPACT, {"known": False, "summary": "no known configuration item"}
    return directory.evaluate_impact(session, cis, ci_keys)


def _write_incidents(store: IntakeStore, plan: Plan, now: datetime) -> dict[int, int]:
    """Insert new incidents, update touched ones; the id of every ref."""
    ids: dict[int, int] = {}
    for group in plan.touched:
        ids[group.ref] = store.insert_incident(_new_row(group, now)) if group.is_new else group.ref
    store.point_heads({service: ids[ref] for service, ref in plan.heads.items()})
    existing = [g for g in plan.touched if not g.is_new]
    store.update_incidents([_update_row(g, now) for g in existing])
    for group in existing:
        if group.impact is not None:
            store.set_impact(group.ref, group.impact)
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


def digest(alert: Incoming) -> str:
    """What an alert says, hashed: a re-send with the same digest changes only counters."""
    content = (
        alert.status.value,
        alert.alertname,
        alert.severity,
        sorted(alert.labels.items()),
        sorted(alert.annotations.items()),
        alert.starts_at.isoformat(),
        alert.ends_at.isoformat() if alert.ends_at else None,
        alert.generator_url,
        alert.ci_key,
        alert.ci_unknown,
        alert.group_key,
        alert.flags,
    )
    # repr of str/bool/None/tuples/lists is deterministic; a different digest after an
    # upgrade only costs one full rewrite of the alert.
    return hashlib.blake2b(repr(content).encode(), digest_size=16).hexdigest()


def _write_alerts(
    store: IntakeStore,
    plan: Plan,
    stored: dict[str, StoredAlert],
    source: str,
    ids: dict[int, int],
    now: datetime,
) -> None:
    full: list[dict[str, Any]] = []
    touched: dict[int, int] = {}
    for outcome in plan.alerts:
        ref = outcome.incident_ref
        incident_id = ids.get(ref, ref) if ref is not None else None
        content = digest(outcome.alert)
        before = stored.get(outcome.alert.fingerprint)
        if (
            before is not None
            and before.digest == content
            and before.incident_id == incident_id
            and before.flips == outcome.flips
        ):
            touched[before.alert_id] = outcome.alert.received
        else:
            full.append(_alert_row(outcome, source, incident_id, content, now))
    store.upsert_alerts(full)
    store.touch_alerts(now, touched)


def _alert_row(
    outcome: AlertOutcome, source: str, incident_id: int | None, content: str, now: datetime
) -> dict[str, Any]:
    alert = outcome.alert
    return {
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
        "digest": content,
        "incident_id": incident_id,
    }


def _timeline_rows(
    plan: Plan, ids: dict[int, int], actor: Actor, now: datetime
) -> list[dict[str, Any]]:
    return [
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
