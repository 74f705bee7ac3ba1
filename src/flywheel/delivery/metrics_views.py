"""`GET /metrics` for Prometheus (outside /api/v1, as scrapers expect)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from flywheel.auth.policy import require_permission
from flywheel.auth.roles import Permission
from flywheel.config import Settings
from flywheel.db import utcnow
from flywheel.delivery.exporter import CONTENT_TYPE, CachedText
from flywheel.http.deps import DbSession, get_actor
from flywheel.http.telemetry import process_metrics
from flywheel.workers import metrics as worker_metrics

router = APIRouter(tags=["metrics"])
_bearer = HTTPBearer(auto_error=False)
CACHE_S = 15.0


def _scraper(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    settings: Settings = request.app.state.settings
    if settings.metrics_public:
        return
    actor = get_actor(request, credentials)
    require_permission(actor, Permission.DELIVERY_READ)
    require_permission(actor, Permission.SLO_READ)


def _cache(request: Request) -> CachedText:
    cache = getattr(request.app.state, "metrics_cache", None)
    if cache is None:
        cache = request.app.state.metrics_cache = CachedText(CACHE_S)
    return cache


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(_scraper)])
def metrics(request: Request, session: DbSession) -> PlainTextResponse:
    """Deployments, lead time, change failure rate, error budgets, open incidents."""
    text = _cache(request).get(session, request.app.state.settings)
    settings: Settings = request.app.state.settings
    own = request.app.state.request_metrics.render() + process_metrics(request.app.state.db.engine)
    dead_after = timedelta(seconds=settings.worker_dead_after_s)
    own += worker_metrics.render(session, utcnow(), dead_after)
    return PlainTextResponse(text + own, media_type=CONTENT_TYPE)
