"""Install the console on the app: its sections, static files, keys and HTML error pages."""

from __future__ import annotations

import importlib.util
import inspect
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, PlainTextResponse, Response

from flywheel.config import Settings
from flywheel.web import rendering
from flywheel.web.pages import audit, auth, changes, cmdb, deployments, overview
from flywheel.web.sections import Console, Section
from flywheel.web.security import Keys, SignInRequired

CONSOLE_TAG = "console"
STATIC = Path(__file__).parent / "static"

# Navigation order. Incidents, problems and delivery/SLO pages plug in here the same way.
SECTIONS: list[Section] = [
    overview.SECTION,
    changes.SECTION,
    deployments.SECTION,
    cmdb.SECTION,
    audit.SECTION,
]

Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


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
    routers = [auth.router, *(s.router for s in SECTIONS)]
    for router in routers:
        app.include_router(router, tags=[CONSOLE_TAG], include_in_schema=False)
    # The routes as matched may be the routers' own or the app's copies: know both.
    app.state.console_routes = {id(r) for router in routers for r in router.routes} | {
        id(r) for r in app.routes if CONSOLE_TAG in (getattr(r, "tags", None) or [])
    }
    for exc_class, original in list(app.exception_handlers.items()):
        if isinstance(exc_class, type):
            app.add_exception_handler(exc_class, _html_for_console(original))


def is_console_request(request: Request) -> bool:
    """Whether a request is for a console page (HTML answers) rather than the API (JSON)."""
    route = request.scope.get("route")
    if route is not None:
        return id(route) in request.app.state.console_routes
    accepts_html = "text/html" in request.headers.get("accept", "")
    return accepts_html and not request.url.path.startswith("/api/")


def _sign_in_url(request: Request) -> str:
    if request.method != "GET":
        return "/sign-in"
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/sign-in?next={quote(target, safe='')}"


def _html_for_console(original: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if not is_console_request(request):
            return await _call(original, request, exc)
        if isinstance(exc, SignInRequired):
            if "text/event-stream" in request.headers.get("accept", ""):
                return PlainTextResponse(exc.message, status_code=401)
            return rendering.redirect(request, _sign_in_url(request))
        answer = await _call(original, request, exc)
        return rendering.error_page(request, answer.status_code, _message(answer))

    return handler


async def _call(handler: Handler, request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    return await answer if inspect.isawaitable(answer) else answer


def _message(answer: Response) -> str:
    try:
        body: Any = json.loads(bytes(answer.body))
        return str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return "the request could not be handled"
