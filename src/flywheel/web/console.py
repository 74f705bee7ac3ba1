"""Install the console on the app: its sections, static files, keys and HTML error pages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse

from flywheel.config import Settings
from flywheel.web.errors import install_not_found
from flywheel.web.pages import (
    account,
    audit,
    auth,
    changes,
    cmdb,
    delivery,
    deployments,
    incidents,
    overview,
    problems,
    service_levels,
    sign_out,
    sso,
)
from flywheel.web.sections import Console, Section
from flywheel.web.security import Keys

STATIC = Path(__file__).parent / "static"

# Navigation order.
SECTIONS: list[Section] = [
    overview.SECTION,
    changes.SECTION,
    deployments.SECTION,
    incidents.SECTION,
    problems.SECTION,
    cmdb.SECTION,
    delivery.SECTION,
    service_levels.SECTION,
    audit.SECTION,
]


def plotly_js() -> Path:
    """plotly.js as shipped inside the installed `plotly` package (never copied here)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


def _vendor_plotly() -> FileResponse:
    return FileResponse(
        plotly_js(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def install_console(app: FastAPI, settings: Settings) -> None:
    """Add the console's pages, assets and error pages to the app."""
    app.state.console_keys = Keys(settings.resolved_secret_key())
    app.state.console = Console(SECTIONS)
    app.add_api_route(
        "/assets/vendor/plotly.min.js", _vendor_plotly, methods=["GET"], include_in_schema=False
    )
    app.mount("/assets", StaticFiles(directory=STATIC), name="console-assets")
    for router in (auth.router, sso.router, sign_out.router, account.router):
        app.include_router(router, include_in_schema=False)
    for router in (s.router for s in SECTIONS):
        app.include_router(router, include_in_schema=False)
    install_not_found(app)
