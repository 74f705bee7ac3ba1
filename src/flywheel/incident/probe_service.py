"""HTTP probes of configuration items: define, change, remove, read their results."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.db import utcnow
from flywheel.errors import Conflict, NotFound, StaleVersion
from flywheel.incident.probe_check import ProbeSpec, parse_status
from flywheel.incident.probe_models import Probe, ProbeRun
from flywheel.incident.probe_schemas import ProbeCreate, ProbeUpdate
from flywheel.slo.sources import ProbeResult
from flywheel.workers.queues import QueueStat, due_stat

_SHOWN = (
    "ci_key",
    "url",
    "method",
    "interval_s",
    "timeout_s",
    "expected_status",
    "body_contains",
    "enabled",
    "failures_to_alert",
    "severity",
)


def _summary(probe: Probe) -> dict[str, Any]:
    return {k: getattr(probe, k) for k in _SHOWN}


def spec_of(probe: Probe) -> ProbeSpec:
    """What the runner needs to check a probe."""
    return ProbeSpec(
        url=probe.url,
        method=probe.method,
        timeout_s=probe.timeout_s,
        expected=parse_status(probe.expected_status),
        body_contains=probe.body_contains,
    )


def create_probe(session: Session, *, actor: Actor, data: ProbeCreate) -> Probe:
    """A new probe, due at once."""
    if session.scalar(select(Probe.id).where(Probe.name == data.name)):
        raise Conflict(f"probe '{data.name}' already exists")
    now = utcnow()
    fields = data.model_dump(exclude={"name", "url"})
    probe = Probe(
        name=data.name,
        url=str(data.url),
        **fields,
        next_run_at=now,
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(probe)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="probe.create",
        object_type="probe",
        object_id=probe.name,
        after=_summary(probe),
    )
    return probe


def list_probes(session: Session, *, ci_key: str | None = None) -> list[Probe]:
    """Every probe (or a CI's), by name."""
    query = select(Probe).order_by(Probe.name)
    if ci_key is not None:
        query = query.where(Probe.ci_key == ci_key)
    return list(session.scalars(query))


def get_probe(session: Session, *, name: str) -> Probe:
    """The probe with this name, or NotFound."""
    found = session.scalar(select(Probe).where(Probe.name == name))
    if found is None:
        raise NotFound(f"no probe '{name}'")
    return found


def check_version(probe: Probe, version: int) -> None:
    """StaleVersion (409) unless the probe is still at the version the caller read."""
    if probe.version != version:
        raise StaleVersion(
            f"probe '{probe.name}' is at version {probe.version}, not {version}",
            details={"current_version": probe.version},
        )


def update_probe(session: Session, *, actor: Actor, name: str, data: ProbeUpdate) -> Probe:
    """Change a probe's settings (send the version you read)."""
    probe = get_probe(session, name=name)
    check_version(probe, data.version)
    before = _summary(probe)
    changes = data.model_dump(exclude={"version"}, exclude_unset=True)
    interval = changes.get("interval_s") or probe.interval_s
    timeout = changes.get("timeout_s") or probe.timeout_s
    if timeout >= interval:
        raise Conflict(f"timeout_s {timeout:g} must be shorter than interval_s {interval}")
    for key, value in changes.items():
        if key == "body_contains" and value == "":
            value = None
        setattr(probe, key, str(value) if key == "url" and value is not None else value)
    probe.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="probe.update",
        object_type="probe",
        object_id=name,
        before=before,
        after=_summary(probe),
    )
    return probe


def remove_probe(session: Session, *, actor: Actor, name: str, version: int | None) -> Probe:
    """Delete a probe and its results (an open alert of it stays with its incident)."""
    probe = get_probe(session, name=name)
    if version is not None:
        check_version(probe, version)
    before = _summary(probe)
    session.delete(probe)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="probe.delete",
        object_type="probe",
        object_id=name,
        before=before,
    )
    return probe


def recent_runs(session: Session, *, probe_id: int, limit: int = 20) -> list[ProbeRun]:
    """A probe's latest runs, newest first."""
    query = select(ProbeRun).where(ProbeRun.probe_id == probe_id)
    return list(
        session.scalars(query.order_by(ProbeRun.at.desc(), ProbeRun.id.desc()).limit(limit))
    )


def results_for_service(
    session: Session, *, service: str, start: datetime, end: datetime
) -> Sequence[ProbeResult]:
    """Every run of the probes of a CI in [start, end): the SLO domain's probe SLI source."""
    query = (
        select(ProbeRun.at, ProbeRun.ok, ProbeRun.latency_ms)
        .join(Probe, Probe.id == ProbeRun.probe_id)
        .where(Probe.ci_key == service, ProbeRun.at >= start, ProbeRun.at < end)
        .order_by(ProbeRun.at)
    )
    return [ProbeResult(at=at, ok=ok, latency_ms=ms) for at, ok, ms in session.execute(query)]


def overdue_probes(session: Session, now: datetime) -> QueueStat:
    """Enabled probes whose run is due: how many, and the earliest due time."""
    due = Probe.next_run_at
    return due_stat(session, due, Probe.enabled.is_(True), due <= now)
