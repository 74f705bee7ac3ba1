"""The flattened route table answers exactly as the nested `include_router` one did."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match

from flywheel import __version__
from flywheel.app import API_PREFIX, DOMAIN_ROUTERS, create_app, healthz, readyz
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.delivery.metrics_views import router as metrics_router
from flywheel.incident.notify_ack_views import router as ack_router
from flywheel.web.console import install_console

PROBES = ("/healthz", "/readyz")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home: Path = tmp_path_factory.mktemp("routes")
    return Settings(home=home, database_url=f"sqlite:///{home}/f.db", secret_key="test-secret")


@pytest.fixture(scope="module")
def app(settings: Settings) -> FastAPI:
    return create_app(settings, Database(settings.resolved_database_url, settings))


@pytest.fixture(scope="module")
def nested(settings: Settings) -> FastAPI:
    """The app as it was built before: one /api/v1 router including every domain router."""
    app = FastAPI(
        title="Flywheel",
        version=__version__,
        description="Service management: changes, releases, incidents, problems, SLOs.",
    )
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


def _name(endpoint: Callable[..., Any] | None) -> str:
    """Where the endpoint is defined (closures made per app compare equal across apps)."""
    return f"{getattr(endpoint, '__module__', '')}.{getattr(endpoint, '__qualname__', '')}"


def _table(routes: list[BaseRoute]) -> list[tuple[str, tuple[str, ...], str]]:
    """(path, methods, endpoint) of every route in matching order, included routers expanded."""
    rows = []
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        for each in contexts() if contexts else [route]:
            path = getattr(each, "path", None) or getattr(each.starlette_route, "path", "")
            methods = tuple(sorted(getattr(each, "methods", None) or ()))
            rows.append((path, methods, _name(getattr(each, "endpoint", None))))
    return rows


def test_openapi_document_is_unchanged(app: FastAPI, nested: FastAPI) -> None:
    flat, before = app.openapi(), nested.openapi()
    assert flat["paths"] == before["paths"]
    assert set(flat["paths"]) == set(before["paths"])
    assert flat["components"] == before["components"]
    assert len(flat["paths"]) > 100


def test_routes_keep_their_order_with_the_probes_first(app: FastAPI, nested: FastAPI) -> None:
    flat = _table(app.router.routes)
    before = _table(nested.router.routes)
    assert [r for r in flat if r[0] not in PROBES] == [r for r in before if r[0] not in PROBES]
    probes = [r for r in flat if r[0] in PROBES]
    assert probes == [r for r in before if r[0] in PROBES]
    assert flat.index(probes[0]) < 10


def _resolve(app: FastAPI, method: str, path: str) -> str | None:
    """The endpoint the app's router runs: the first full match, included routers searched."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    for route in app.router.routes:
        match, child = route.matches(dict(scope))
        while match == Match.FULL and hasattr(route, "_match"):  # an included router
            match, child, route, _ = route._match(dict(scope))  # FastAPI's lookup inside it
        if match == Match.FULL:
            return _name(child.get("endpoint")) if "endpoint" in child else type(route).__name__
    return None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/changes"),
        ("POST", "/api/v1/changes"),
        ("GET", "/api/v1/changes/42"),
        ("POST", "/api/v1/deployments/7/pause"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/oncall/schedules"),
        ("GET", "/metrics"),
        ("GET", "/ack/abc"),
        ("GET", "/"),
    ],
)
def test_paths_resolve_to_the_same_endpoint(
    app: FastAPI, nested: FastAPI, method: str, path: str
) -> None:
    endpoint = _resolve(app, method, path)
    assert endpoint is not None
    assert endpoint == _resolve(nested, method, path)


def test_every_api_route_is_a_plain_route_on_the_app(app: FastAPI) -> None:
    api = [r for r in app.router.routes if getattr(r, "path", "").startswith(API_PREFIX)]
    assert len(api) == sum(len(router.routes) for router in DOMAIN_ROUTERS)
    assert all(type(route) is APIRoute for route in api)
    assert app.router.routes.index(next(r for r in api)) > app.router.routes.index(
        next(r for r in app.router.routes if getattr(r, "path", "") == "/healthz")
    )
