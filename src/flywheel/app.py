"""The FastAPI application, built from the domain routers."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from flywheel import __version__, migrate
from flywheel.audit.views import router as audit_router
from flywheel.auth.views import router as auth_router
from flywheel.change.views import router as change_router
from flywheel.cmdb import service as cmdb_service
from flywheel.cmdb.views import router as cmdb_router
from flywheel.config import Settings, get_settings
from flywheel.db import Database
from flywheel.delivery.metrics_views import router as metrics_router
from flywheel.delivery.views import router as delivery_router
from flywheel.deploy import durable, run_steps
from flywheel.deploy import service as deploy_service
from flywheel.deploy.views import router as deploy_router
from flywheel.http.errors import error_response, install_error_handlers
from flywheel.http.idempotency import IdempotencyMiddleware
from flywheel.http.middleware import (
    BodySizeLimitMiddleware,
    RequestIdMiddleware,
    SqliteWriteGate,
)
from flywheel.http.ratelimit import Limit, RateLimitMiddleware
from flywheel.http.telemetry import RequestMetrics, RequestMetricsMiddleware
from flywheel.incident import (
    autorollback,
    escalation_service,
    escalation_worker,
    probe_runner,
    probe_service,
    slo_providers,
)
from flywheel.incident import gates as incident_gates
from flywheel.incident import reactions as incident_reactions
from flywheel.incident.autorollback_views import router as autorollback_router
from flywheel.incident.cause_views import router as cause_router
from flywheel.incident.escalation_views import router as escalation_router
from flywheel.incident.intake_views import router as alert_router
from flywheel.incident.notify_ack_views import router as ack_router
from flywheel.incident.oncall_views import router as oncall_router
from flywheel.incident.probe_views import router as probe_router
from flywheel.incident.views import router as incident_router
from flywheel.problem import fix_references as problem_fix_references
from flywheel.problem import reaction as problem_reaction
from flywheel.problem.known_error_views import router as known_error_router
from flywheel.problem.verify_service import Worker as ProblemWorker
from flywheel.problem.views import router as problem_router
from flywheel.release import service as release_service
from flywheel.release.views import router as release_router
from flywheel.risk.views import router as risk_router
from flywheel.slo import gate as slo_gate
from flywheel.slo import schedule as slo_schedule
from flywheel.slo import sources as slo_sources
from flywheel.slo.views import router as slo_router
from flywheel.vault import keyring as vault_keyring
from flywheel.vault.views import router as vault_router
from flywheel.web.console import install_console

log = logging.getLogger("flywheel")

API_PREFIX = "/api/v1"
DOMAIN_ROUTERS: list[APIRouter] = [
    auth_router,
    audit_router,
    cmdb_router,
    change_router,
    risk_router,
    release_router,
    deploy_router,
    alert_router,
    incident_router,
    cause_router,
    oncall_router,
    probe_router,
    autorollback_router,
    escalation_router,
    slo_router,
    delivery_router,
    problem_router,
    known_error_router,
    vault_router,
]


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the Flywheel API application."""
    settings = settings or get_settings()
    db = database or Database(settings.resolved_database_url, settings)
    app = FastAPI(
        lifespan=_lifespan,
        title="Flywheel",
        version=__version__,
        description="Service management: changes, releases, incidents, problems, SLOs.",
        openapi_url="/openapi.json",
    )
    app.state.db = db
    release_service.EXTRA_GATES["incidents"] = incident_gates.open_p1_gate
    incident_reactions.register("escalation", escalation_service.on_intake)
    if incident_gates.alerts_since not in run_steps.BAKE_CHECKS:
        run_steps.BAKE_CHECKS.append(incident_gates.alerts_since)
    app.state.settings = settings
    vault_keyring.use(settings)
    incident_reactions.register(problem_reaction.REACTION, problem_reaction.react)
    slo_gate.FIX_FINDERS["problem"] = problem_fix_references.problems_fixed_by
    slo_gate.install(settings)
    slo_providers.install(settings)
    slo_sources.register_probes("incident.probes", probe_service.results_for_service)
    autorollback.install(db, settings)
    install_error_handlers(app)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(SqliteWriteGate)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        RateLimitMiddleware,
        identified=Limit(settings.rate_limit_per_s, settings.rate_limit_burst),
        anonymous=Limit(settings.rate_limit_anonymous_per_s, settings.rate_limit_anonymous_burst),
        enabled=settings.rate_limit_enabled,
    )
    app.state.request_metrics = RequestMetrics()
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.request_metrics)
    app.add_middleware(RequestIdMiddleware)
    api = APIRouter(prefix=API_PREFIX)
    for router in DOMAIN_ROUTERS:
        api.include_router(router)
    app.include_router(api)
    app.include_router(metrics_router)
    app.include_router(ack_router)
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["health"])
    app.add_api_route("/readyz", readyz, methods=["GET"], tags=["health"])
    install_console(app, settings)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.warm_indexes:
        threading.Thread(target=_warm_indexes, args=(app.state.db,), daemon=True).start()
    await run_in_threadpool(_resume_deployments, app.state.db, settings)
    await run_in_threadpool(slo_schedule.start, app.state.db, settings)
    probes = probe_runner.ProbeWorker(app.state.db, settings) if settings.probe_worker else None
    if probes is not None:
        probes.start()
    problems = ProblemWorker(
        app.state.db,
        interval_s=settings.problem_worker_seconds,
        quiet_period=timedelta(days=settings.problem_quiet_period_days),
    )
    problems.start()
    paging = (
        escalation_worker.Worker(app.state.db, settings)
        if settings.notify_worker_interval_s > 0
        else None
    )
    if paging is not None:
        paging.start()
    yield
    if paging is not None:
        await run_in_threadpool(paging.stop)
    problems.stop()
    if probes is not None:
        await run_in_threadpool(probes.stop)
    await run_in_threadpool(durable.shutdown)


def _resume_deployments(db: Database, settings: Settings) -> None:
    """Launch the durable engine at start when runs were left unfinished (they resume)."""
    try:
        with db.session() as session:
            unfinished = deploy_service.active_deployments(session)
    except Exception:  # no schema yet: /readyz says so
        log.warning("could not look for unfinished deployments", exc_info=True)
        return
    if unfinished:
        log.info("resuming %d unfinished deployment(s)", len(unfinished))
        durable.launch(db, settings)


def _warm_indexes(db: Database) -> None:
    """Load in-memory indexes in the background so the first query is fast."""
    try:
        with db.session() as session:
            size = cmdb_service.warm_index(session)
        log.info("CMDB graph index loaded: %d CIs", size)
    except Exception:  # a missing schema or database is reported by /readyz
        log.warning("could not warm the CMDB graph index", exc_info=True)


def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok", "version": __version__}


def readyz(request: Request) -> Any:
    """The database answers and its schema is current."""
    db: Database = request.app.state.db
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrate.current_revision(db.engine)
    except Exception as exc:  # any failure to reach the database means not ready
        log.warning("readiness check failed: %s", exc)
        return error_response(503, "not_ready", "database unreachable")
    head = migrate.head_revision()
    if current != head:
        message = f"database schema at {current}, this version needs {head}"
        return error_response(503, "not_ready", message)
    return JSONResponse({"status": "ready", "database": db.dialect, "schema": current})
