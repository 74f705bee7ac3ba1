"""An incident's timeline as server-sent events, while it is open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from flywheel.db import Database
from flywheel.incident import service as incident_service
from flywheel.web.live import HEARTBEAT_S, sse
from flywheel.web.rendering import render_fragment

POLL_S = 1.0


def _read(db: Database, incident_id: int) -> tuple[tuple[Any, ...], str, str]:
    """(signature, state, timeline fragment) of the incident now."""
    with db.session() as session:
        incident = incident_service.get_incident(session, incident_id=incident_id)
        timeline = incident_service.timeline(session, incident_id=incident_id)
        signature = (incident.version, len(timeline))
        fragment = render_fragment("incidents/_timeline.html", timeline=timeline)
        return signature, incident.state, fragment


async def events(db: Database, incident_id: int, request: Request) -> AsyncIterator[str]:
    """The timeline and state whenever either changes; 'done' once it is resolved."""
    seen: tuple[Any, ...] | None = None
    quiet = 0.0
    yield "retry: 5000\n\n"
    while not await request.is_disconnected():
        signature, state, fragment = await run_in_threadpool(_read, db, incident_id)
        if signature != seen:
            seen, quiet = signature, 0.0
            yield sse("timeline", fragment)
            yield sse("state", state)
        elif quiet >= HEARTBEAT_S:
            quiet = 0.0
            yield ": still open\n\n"
        if state == "resolved":
            yield sse("done", state)
            return
        await asyncio.sleep(POLL_S)
        quiet += POLL_S
