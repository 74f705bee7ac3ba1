"""Running probes as scheduled work shared by any number of worker processes.

A worker claims a due probe by moving its `next_run_at` forward with a compare-and-set
UPDATE (`WHERE next_run_at = <the value it read>`): of two workers that read the same due
probe, exactly one UPDATE matches, so each interval runs once however many workers poll.
The check itself runs outside any transaction; its result, the consecutive-failure count
and the alert transition (firing after N failures, resolved on the next success) are then
written in one short transaction through the incident intake (source "probe").
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from flywheel.auth.actor import Actor
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.incident import intake
from flywheel.incident.cirules import DEFAULT_RULES, parse_rules
from flywheel.incident.incoming import AlertStatus, normalise
from flywheel.incident.intake_views import policy_of
from flywheel.incident.probe_check import Outcome, ProbeSpec, check
from flywheel.incident.probe_models import Probe, ProbeRun
from flywheel.incident.probe_service import get_probe, spec_of

log = logging.getLogger("flywheel.probes")
SOURCE = "probe"


@dataclass(frozen=True)
class Claimed:
    """A probe this worker owns for one run."""

    probe_id: int
    name: str
    spec: ProbeSpec


@dataclass(frozen=True)
class RunRecord:
    """A finished run, as recorded."""

    probe: str
    at: datetime
    ok: bool
    status_code: int | None
    latency_ms: float | None
    error: str | None


def next_slot(seen: datetime, interval_s: int, now: datetime) -> datetime:
    """The first slot after now on the probe's grid (no drift, no burst after a pause)."""
    step = timedelta(seconds=interval_s)
    behind = max(0, int((now - seen) / step))
    return seen + step * (behind + 1)


def claim_due(db: Database, *, now: datetime, limit: int = 100) -> list[Claimed]:
    """Claim every enabled probe whose time has come; other workers skip what this one got."""
    with db.session() as session:
        due = session.execute(
            select(Probe.id, Probe.next_run_at, Probe.interval_s)
            .where(Probe.enabled.is_(True), Probe.next_run_at <= now)
            .order_by(Probe.next_run_at)
            .limit(limit)
        ).all()
    claimed: list[Claimed] = []
    for probe_id, seen, interval_s in due:
        with db.session(write=True) as session:
            moved = session.execute(
                update(Probe)
                .where(Probe.id == probe_id, Probe.next_run_at == seen)
                .values(next_run_at=next_slot(seen, interval_s, now))
                .execution_options(synchronize_session=False)
            )
            session.commit()
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                probe = session.get(Probe, probe_id)
                if probe is not None:
                    claimed.append(Claimed(probe.id, probe.name, spec_of(probe)))
    return claimed


def _alert_labels(probe: Probe) -> dict[str, str]:
    return {
        "alertname": "ProbeFailed",
        "service": probe.ci_key,
        "instance": probe.ci_key,
        "probe": probe.name,
        "severity": probe.severity,
    }


def _transition(probe: Probe, ok: bool, failures: int) -> AlertStatus | None:
    """Firing once failures reach the threshold, resolved on the first success after."""
    if ok:
        return AlertStatus.RESOLVED if probe.alerting else None
    if not probe.alerting and failures >= probe.failures_to_alert:
        return AlertStatus.FIRING
    return None


def _send_alert(
    session: Session,
    settings: Settings,
    probe: Probe,
    status: AlertStatus,
    outcome: Outcome,
    now: datetime,
) -> None:
    what = outcome.error or "answered as expected"
    alert = normalise(
        status=status,
        labels=_alert_labels(probe),
        annotations={"summary": f"probe {probe.name} ({probe.url}): {what}"},
        starts_at=now,
        ends_at=now if outcome.ok else None,
        fingerprint=f"probe:{probe.id}",
        severity=probe.severity,
        generator_url=probe.url,
        rules=parse_rules(DEFAULT_RULES),
        now=now,
    )
    intake.receive(
        session,
        actor=Actor(name=f"probe:{probe.name}"),
        source=SOURCE,
        alerts=[alert],
        policy=policy_of(settings),
        now=now,
        ci_cache_seconds=settings.incident_ci_cache_seconds,
    )


def settle(session: Session, settings: Settings, probe: Probe, why: str) -> None:
    """Resolve the alert of a probe that stops running (removed or disabled) while failing."""
    if not probe.alerting:
        return
    now = utcnow()
    outcome = Outcome(True, None, None, why)
    _send_alert(session, settings, probe, AlertStatus.RESOLVED, outcome, now)
    session.execute(
        update(Probe)
        .where(Probe.id == probe.id)
        .values(alerting=False, consecutive_failures=0)
        .execution_options(synchronize_session=False)
    )
    # Run state, not configuration: the probe's version stays what the caller sent.
    set_committed_value(probe, "alerting", False)
    set_committed_value(probe, "consecutive_failures", 0)


def record(
    db: Database, settings: Settings, claimed: Claimed, outcome: Outcome, now: datetime
) -> RunRecord | None:
    """Store a run, count failures, and raise or resolve the probe's alert."""
    with db.session(write=True) as session:
        probe = session.scalar(select(Probe).where(Probe.id == claimed.probe_id).with_for_update())
        if probe is None:  # removed while it ran
            return None
        session.expunge(probe)  # run state is written without bumping the probe's version
        failures = 0 if outcome.ok else probe.consecutive_failures + 1
        status = _transition(probe, outcome.ok, failures)
        if status is not None:
            _send_alert(session, settings, probe, status, outcome, now)
        alerting = probe.alerting if status is None else status is AlertStatus.FIRING
        session.execute(
            update(Probe)
            .where(Probe.id == claimed.probe_id)
            .values(
                consecutive_failures=failures,
                alerting=alerting,
                last_run_at=now,
                last_ok=outcome.ok,
            )
            .execution_options(synchronize_session=False)
        )
        session.add(
            ProbeRun(
                probe_id=claimed.probe_id,
                at=now,
                ok=outcome.ok,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                error=outcome.error,
            )
        )
        session.commit()
    return RunRecord(
        claimed.name, now, outcome.ok, outcome.status_code, outcome.latency_ms, outcome.error
    )


def _run_one(db: Database, settings: Settings, claimed: Claimed) -> RunRecord | None:
    with httpx.Client(follow_redirects=False) as client:
        outcome = check(claimed.spec, client)
    try:
        return record(db, settings, claimed, outcome, utcnow())
    except Exception:  # one probe's bad write must not stop the others
        log.exception("could not record a run of probe %s", claimed.name)
        return None


def run_claimed(db: Database, settings: Settings, claimed: list[Claimed]) -> list[RunRecord]:
    """Run claimed probes concurrently; their records in claim order."""
    if not claimed:
        return []
    workers = min(settings.probe_concurrency, len(claimed))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        done = list(pool.map(lambda c: _run_one(db, settings, c), claimed))
    return [r for r in done if r is not None]


def run_due(db: Database, settings: Settings, *, now: datetime | None = None) -> list[RunRecord]:
    """One scheduler pass: claim what is due, run it, record it."""
    return run_claimed(db, settings, claim_due(db, now=now or utcnow()))


def run_now(db: Database, settings: Settings, *, name: str) -> RunRecord | None:
    """Run one probe now, outside its schedule (the next scheduled run is unchanged)."""
    with db.session() as session:
        probe = get_probe(session, name=name)
        claimed = Claimed(probe.id, probe.name, spec_of(probe))
    return _run_one(db, settings, claimed)


class ProbeWorker:
    """A thread that runs a scheduler pass every `probe_poll_seconds` until stopped."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db, self._settings = db, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="probe-worker", daemon=True)

    def start(self) -> None:
        """Begin polling."""
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the pass in progress."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_due(self._db, self._settings)
            except Exception:  # a database hiccup: try again on the next pass
                log.exception("probe scheduler pass failed")
            self._stop.wait(self._settings.probe_poll_seconds)
