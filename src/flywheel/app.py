"""The FastAPI application, built from the domain routers."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from flywheel import __version__, migrate
from flywheel.audit.views import router as audit_router
from flywheel.auth.views import router as auth_router
from flywheel.background import BackgroundWork
from flywheel.change.views import router as change_router
from flywheel.cmdb import service as cmdb_service
from flywheel.cmdb.views import router as cmdb_router
from flywheel.config import Settings, get_settings
from flywheel.db import Database
from flywheel.delivery.metrics_views import router as metrics_router
from flywheel.delivery.views import router as delivery_router
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
from flywheel.incident.autorollback_views import router as autorollback_router
from flywheel.incident.cause_views import router as cause_router
from flywheel.incident.escalation_views import router as escalation_router
from flywheel.incident.intake_views import router as alert_router
from flywheel.incident.notify_ack_views import router as ack_router
from flywheel.incident.oncall_views import router as oncall_router
from flywheel.incident.probe_views import router as probe_router
from flywheel.incident.views import router as incident_router
from flywheel.problem.known_error_views import router as known_error_router
from flywheel.problem.views import router as problem_router
from flywheel.release.views import router as release_router
from flywheel.risk.views import router as risk_router
from flywheel.slo.views import router as slo_router
from flywheel.vault.views import router as vault_router
from flywheel.web.console import install_console
from flywheel.wiring import install_domains
from flywheel.workers.identity import Role, identify

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
    app.state.settings = settings
    install_domains(db, settings)
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
    # Probes first: routes are tried in order and health checks are the most frequent calls.
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["health"])
    app.add_api_route("/readyz", readyz, methods=["GET"], tags=["health"])
    app.router.routes.extend(_api_routes())
    install_console(app, settings)
    return app


@functools.cache
def _api_routes() -> tuple[BaseRoute, ...]:
    """The API's routes, built once per process and shared by its apps.

    A route keeps no app state (handlers reach it through `request.app`); building them costs
    about 0.2 s, which every app a process makes would otherwise pay again. Shared routes do
    not see an app's `dependency_overrides` (nothing in Flywheel or its tests uses them).
    """
    built = APIRouter()
    for router in DOMAIN_ROUTERS:
        add_routes(built, router, prefix=API_PREFIX)
    add_routes(built, metrics_router)
    add_routes(built, ack_router)
    return tuple(built.routes)


def add_routes(target: APIRouter, router: APIRouter, prefix: str = "") -> None:
    """Copy the router's routes onto `target` flat, as `include_router` did before FastAPI 0.137.

    An included router stays a nested node that, on every request, re-walks each of its
    routes with costly per-candidate work; plain routes on the app are a regex match each.
    """
    for route in router.routes:
        if type(route) is not APIRoute:
            raise TypeError(f"cannot copy {route!r}: only plain API routes are flattened")
        target.add_api_route(prefix + route.path, route.endpoint, **_route_options(route))


def _route_options(route: APIRoute) -> dict[str, Any]:
    """Everything `APIRouter.add_api_route` needs to rebuild the route as it was declared."""
    names = (
        "response_model", "status_code", "tags", "dependencies", "summary", "description",
        "response_description", "responses", "deprecated", "methods", "operation_id",
        "response_model_include", "response_model_exclude", "response_model_by_alias",
        "response_model_exclude_unset", "response_model_exclude_defaults",
        "response_model_exclude_none", "include_in_schema", "response_class", "name",
        "callbacks", "openapi_extra", "generate_unique_id_function", "strict_content_type",
        "max_body_size", "form_limits",
    )  # fmt: skip
    return {name: getattr(route, name) for name in names}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.warm_indexes:
        threading.Thread(target=_warm_indexes, args=(app.state.db,), daemon=True).start()
    me = identify(Role(settings.role), settings.worker_name)
    work = app.state.background = BackgroundWork(app.state.db, settings, me)
    await run_in_threadpool(work.start)
    yield
    await run_in_threadpool(work.stop)


def _warm_indexes(db: Database) -> None:
    """Load in-memory indexes in the background so the first query is fast."""
    try:
        with db.session() as session:
            size = cmdb_service.warm_index(session)
        log.info("CMDB graph index loaded: %d CIs", size)
    except Exception:  # a missing schema or database is reported by /readyz
        log.warning("could not warm the CMDB graph index", exc_info=True)


async def healthz() -> dict[str, str]:
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
    # Migrations only add: a schema a newer Flywheel migrated still serves this one (rolling
    # upgrades migrate first, then restart processes one by one behind the load balancer).
    state = migrate.schema_state(current)
    if state in ("missing", "behind"):
        message = f"database schema at {current}, this version needs {migrate.head_revision()}"
        return error_response(503, "not_ready", message)
    body = {"status": "ready", "database": db.dialect, "schema": current, "schema_state": state}
    return JSONResponse(body)
