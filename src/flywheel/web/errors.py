"""What the console answers when something goes wrong: a page saying so, never JSON or a trace."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response

from flywheel.errors import FlywheelError
from flywheel.web.rendering import error_page, redirect
from flywheel.web.security import SignInRequired

log = logging.getLogger("flywheel.web")
Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


def _sign_in_url(request: Request) -> str:
    if request.method != "GET":
        return "/sign-in"
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/sign-in?next={quote(target, safe='')}"


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid input: " + "; ".join(parts)


def console_error(request: Request, exc: Exception) -> Response:
    """The console's answer to an error raised while handling a page or a form."""
    if isinstance(exc, SignInRequired):
        if "text/event-stream" in request.headers.get("accept", ""):
            return PlainTextResponse(exc.message, status_code=401)
        return redirect(request, _sign_in_url(request))
    if isinstance(exc, FlywheelError):
        return error_page(request, exc.status_code, exc.message)
    if isinstance(exc, RequestValidationError):
        return error_page(request, 422, _validation_message(exc))
    if isinstance(exc, HTTPException):
        return error_page(request, exc.status_code, str(exc.detail))
    if isinstance(exc, StaleDataError | IntegrityError):
        return error_page(request, 409, "someone else changed this meanwhile: reload and retry")
    if isinstance(exc, OperationalError):
        log.error("database unavailable: %s", exc.orig)
        return error_page(request, 503, "the database is busy or unavailable: retry")
    log.exception("unexpected error on a console page")
    return error_page(request, 500, "internal error: the server log has the details")


class ConsoleRoute(APIRoute):
    """A console route: every error becomes a page in the console's frame."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except Exception as exc:  # every failure gets a page; unexpected ones are logged
                return console_error(request, exc)

        return handler


def install_not_found(app: FastAPI) -> None:
    """Unknown addresses asked for by a browser get a page; the API keeps its JSON answers."""
    original: Handler = app.exception_handlers[HTTPException]

    async def handler(request: Request, exc: Exception) -> Response:
        wants_html = "text/html" in request.headers.get("accept", "")
        if "route" not in request.scope and wants_html and not request.url.path.startswith("/api"):
            return console_error(request, exc)
        answer = original(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(HTTPException, handler)
