"""The overview: every section's headline numbers and panels, for the signed-in viewer."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from flywheel.http.deps import DbSession
from flywheel.web.rendering import render
from flywheel.web.sections import SETTINGS_KEY, Console, Section, console_router
from flywheel.web.security import CurrentViewer

router = console_router()


@router.get("/")
def overview(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    """Business services, changes awaiting the viewer, deployments, counts."""
    console: Console = request.app.state.console
    session.info[SETTINGS_KEY] = request.app.state.settings
    return render(
        request,
        "overview.html",
        title="Overview",
        tiles=console.tiles(session, viewer),
        panels=console.panels(session, viewer),
    )


SECTION = Section(label="Overview", path="/", router=router)
