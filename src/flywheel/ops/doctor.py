"""`flywheel doctor`: check an installation and say what is wrong in plain words."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from flywheel import migrate
from flywheel.audit import service as audit_service
from flywheel.cmdb import service as cmdb_service
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.deploy import durable
from flywheel.deploy import service as deploy_service
from flywheel.deploy.drivers.base import DriverError
from flywheel.deploy.drivers.registry import load_balancer_for
from flywheel.errors import FlywheelError
from flywheel.workers import metrics as worker_metrics
from flywheel.workers import service as workers_service
from flywheel.workers.identity import RUNS_WORK

STUCK_AFTER = timedelta(minutes=10)
ACTIVE_RUN_STATES = ("running", "rolling_back")


@dataclass(frozen=True)
class Finding:
    """One check's outcome: ok, warn or fail, what was seen, and what to do about it."""

    check: str
    status: str
    detail: str
    fix: str = ""


def _ok(check: str, detail: str) -> Finding:
    return Finding(check, "ok", detail)


def _fail(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, "fail", detail, fix)


def _warn(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, "warn", detail, fix)


def examine(settings: Settings, *, verify_audit: bool = True) -> list[Finding]:
    """Every check, in order; later checks are skipped when the database is unreachable."""
    findings = [_secret_key(settings)]
    url = settings.resolved_database_url
    try:
        db = Database(url, settings)
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        fix = "check FLYWHEEL_DATABASE_URL and that the database server is running"
        return [*findings, _fail("database", f"cannot connect: {reason}", fix)]
    try:
        findings.append(_ok("database", f"{db.dialect} reachable"))
        findings.append(_schema(db))
        if findings[-1].status == "ok":
            checks: list[Callable[[Database], Finding | list[Finding]]] = [
                _work_database(settings),
                _workers(settings),
                _stuck_runs,
                _load_balancers,
            ]
            if verify_audit:
                checks.insert(0, _audit)
            for check in checks:
                found = check(db)
                findings.extend(found if isinstance(found, list) else [found])
        findings.append(_prometheus(settings))
    finally:
        db.dispose()
    return findings


def _secret_key(settings: Settings) -> Finding:
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            return _warn(
                "secret key",
                f"FLYWHEEL_SECRET_KEY is only {len(settings.secret_key)} characters",
                "use at least 32 random characters (e.g. `openssl rand -base64 48`)",
            )
        return _ok("secret key", "set from FLYWHEEL_SECRET_KEY")
    key_file = settings.home / "secret_key"
    if key_file.exists():
        if key_file.stat().st_mode & 0o077:
            return _warn("secret key", f"{key_file} is readable by others", f"chmod 600 {key_file}")
        return _ok("secret key", f"kept in {key_file}")
    return _warn(
        "secret key",
        "none yet: one will be generated into FLYWHEEL_HOME at first use",
        "set FLYWHEEL_SECRET_KEY when several processes or machines must share it",
    )


def _schema(db: Database) -> Finding:
    current, head = migrate.current_revision(db.engine), migrate.head_revision()
    if current == head:
        return _ok("schema", f"at revision {current}, the newest")
    return _fail(
        "schema",
        f"database at revision {current or 'none'}, this version ships {head}",
        "take a backup (`flywheel backup FILE`), then run `flywheel db upgrade`",
    )


def _audit(db: Database) -> Finding:
    with db.session() as session:
        report = audit_service.verify_chain(session)
    if report.intact:
        return _ok("audit chain", f"intact: {report.events_checked:,} events")
    return _fail(
        "audit chain",
        f"broken: {report.first_break}",
        "someone changed the audit trail: restore the last good backup and investigate",
    )


def _work_database(settings: Settings) -> Callable[[Database], Finding]:
    def check(db: Database) -> Finding:
        url = durable.work_database_url(settings, db.url)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            return _fail(
                "durable work",
                f"the work database cannot be opened: {reason}",
                "check FLYWHEEL_WORK_DATABASE_URL (deployments cannot run without it)",
            )
        finally:
            engine.dispose()
        return _ok("durable work", "work database reachable")

    return check


def _workers(settings: Settings) -> Callable[[Database], Finding]:
    def check(db: Database) -> Finding:
        now, dead_after = utcnow(), timedelta(seconds=settings.worker_dead_after_s)
        with db.session() as session:
            rows = [r for r in workers_service.list_processes(session) if r.role in RUNS_WORK]
        states = {row.id: worker_metrics.state_of(row, now, dead_after) for row in rows}
        alive = sorted(key for key, state in states.items() if state == "alive")
        dead = sorted(key for key, state in states.items() if state == "dead")
        if not alive:
            return _warn(
                "background workers",
                "no live process runs background work (deployment runs, paging, probes)",
                "start `flywheel worker` (or `flywheel serve` without --api-only)",
            )
        if dead:
            return _warn(
                "background workers",
                f"{len(alive)} alive; silent and not yet recovered: {', '.join(dead[:5])}",
                "a live worker recovers them within a heartbeat; if not, see its log",
            )
        return _ok("background workers", f"{len(alive)} alive: {', '.join(alive[:5])}")

    return check


def _stuck_runs(db: Database) -> Finding:
    stuck: list[str] = []
    cutoff = utcnow() - STUCK_AFTER
    with db.session() as session:
        for state in ACTIVE_RUN_STATES:
            for run in deploy_service.list_deployments(session, state=state, limit=500):
                if run.updated_at < cutoff:
                    stuck.append(f"#{run.id} ({run.pool}, {state})")
    if not stuck:
        return _ok("deployment workers", "no run is waiting for a worker")
    return _warn(
        "deployment workers",
        f"no progress for {int(STUCK_AFTER.total_seconds() // 60)} min: {', '.join(stuck[:10])}",
        "start `flywheel worker` or `flywheel serve` (they resume unfinished runs); see the log",
    )


def _pools_with_load_balancers(db: Database) -> Iterator[tuple[str, dict[str, Any]]]:
    with db.session() as session:
        after = 0
        while batch := cmdb_service.list_cis(
            session, ci_type="service_pool", after_id=after, limit=500
        ):
            for pool in batch:
                deploy = (pool.attributes or {}).get("deploy") or {}
                balancer = deploy.get("load_balancer") or {}
                if balancer.get("driver", "none") != "none":
                    yield pool.key, dict(balancer)
            after = batch[-1].id


def _load_balancers(db: Database) -> list[Finding]:
    findings: list[Finding] = []
    for pool, config in _pools_with_load_balancers(db):
        backend = str(config.pop("backend", pool))
        check = f"load balancer of {pool}"
        try:
            servers = load_balancer_for(config).stats(backend)
        except (DriverError, FlywheelError, OSError) as exc:
            fix = "start HAProxy with its admin socket, or correct attributes.deploy.load_balancer"
            findings.append(_fail(check, f"{config.get('driver')} does not answer: {exc}", fix))
            continue
        if not servers:
            fix = "check the backend name in the CMDB against HAProxy's configuration"
            findings.append(_fail(check, f"backend '{backend}' has no servers", fix))
        else:
            findings.append(_ok(check, f"backend '{backend}': {len(servers)} servers"))
    return findings


def _prometheus(settings: Settings) -> Finding:
    if not settings.prometheus_url:
        return _ok("prometheus", "not configured (SLIs of source 'prometheus' say 'no data')")
    url = settings.prometheus_url.rstrip("/") + "/-/ready"
    try:
        answer = httpx.get(url, timeout=settings.prometheus_timeout_s)
    except httpx.HTTPError as exc:
        return _fail("prometheus", f"{url} unreachable: {exc}", "check FLYWHEEL_PROMETHEUS_URL")
    if answer.status_code != 200:
        return _fail("prometheus", f"{url} answered {answer.status_code}", "check Prometheus")
    return _ok("prometheus", f"{settings.prometheus_url} ready")
