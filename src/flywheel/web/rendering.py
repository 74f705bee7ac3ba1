"""Turning templates into responses: the shared page context, filters and security headers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response

from flywheel.db import utcnow
from flywheel.web.security import SESSION_COOKIE, Viewer, set_session_cookie

TEMPLATES = Path(__file__).parent / "templates"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(moment: datetime | None) -> str:
    """A timestamp as people read it: '2026-11-27 09:05 UTC'."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def ago(moment: datetime | None) -> str:
    """How long ago, roughly: '5 min ago', 'in 2 h'."""
    if moment is None:
        return "—"
    seconds = (utcnow() - moment).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            break
    else:
        amount = f"{int(seconds)} s"
    return f"in {amount}" if future else f"{amount} ago"


def time_tag(moment: datetime | None) -> Markup:
    """A <time> element: the exact UTC time, its relative age as a tooltip."""
    if moment is None:
        return Markup("—")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        moment.isoformat(), ago(moment), when(moment)
    )


def number(value: float | int | None) -> str:
    """A count with thousands separators."""
    return "—" if value is None else f"{value:,}"


def percent(value: float | None, digits: int = 1) -> str:
    """A share (0 to 1) as a percentage."""
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, ago=ago, time=time_tag, number=number, percent=percent)
    return env


ENV = _environment()


def render_fragment(template: str, **context: Any) -> str:
    """A template rendered to a string (for live updates)."""
    return ENV.get_template(template).render(**context)


def _finish(request: Request, response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    refreshed = getattr(request.state, "refreshed_cookie", None)
    if refreshed and SESSION_COOKIE not in response.headers.get("set-cookie", ""):
        set_session_cookie(request, response, refreshed)
    return response


def secured(request: Request, response: Response) -> Response:
    """Any console response (an export, a download) with the console's security headers."""
    return _finish(request, response)


def page_context(request: Request, context: dict[str, Any]) -> dict[str, Any]:
    """What every page template gets: the viewer, the navigation, where we are."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    console = request.app.state.console
    return {
        "viewer": viewer,
        "nav": console.navigation(viewer) if viewer else [],
        "path": request.url.path,
        "csrf_token": viewer.csrf_token if viewer else "",
        "title": "Flywheel",
        "notice": "",
        "error": "",
        **context,
    }


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
    """A full page."""
    html = ENV.get_template(template).render(**page_context(request, context))
    return _finish(request, HTMLResponse(html, status_code=status))


def redirect(request: Request, url: str) -> Response:
    """See other: after a form was handled, show its result page."""
    return _finish(request, RedirectResponse(url, status_code=303))


def error_page(request: Request, status: int, message: str) -> Response:
    """A page that says what went wrong, in the console's frame."""
    titles = {
        400: "Bad request",
        401: "Sign-in needed",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Invalid input",
        503: "Unavailable",
    }
    title = titles.get(status, "Something went wrong")
    return render(request, "error.html", status=status, title=title, message=message)
