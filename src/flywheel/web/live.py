"""A deployment run as the console shows it, and its live updates as server-sent events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from flywheel.auth.roles import Permission
from flywheel.db import Database
from flywheel.deploy import service as deploy_service
from flywheel.deploy.models import Deployment
from flywheel.web import charts, runs
from flywheel.web.rendering import render_fragment
from flywheel.web.security import Viewer

POLL_S = 0.5
HEARTBEAT_S = 15.0


@dataclass(frozen=True)
class RunView:
    """Everything the run page shows, read in one go."""

    deployment: Deployment
    batches: list[runs.Batch]
    note: str
    chart: dict[str, Any]
    signature: tuple[Any, ...]


def run_view(session: Session, *, deployment_id: int) -> RunView:
    """Read a run and arrange it for the page."""
    deployment = deploy_service.get_deployment(session, deployment_id=deployment_id)
    steps = deploy_service.steps_of(session, deployment_id=deployment_id)
    batches = runs.arrange(deployment.plan, steps)
    limit = float((deployment.settings or {}).get("max_error_rate", 0.02))
    chart = charts.batch_error_rates(runs.baked(batches), limit)
    signature = (
        deployment.state,
        deployment.control,
        deployment.version,
        tuple((s.seq, s.state) for s in steps),
    )
    return RunView(deployment, batches, runs.run_note(steps), chart, signature)


def controls(deployment: Deployment, viewer: Viewer) -> list[str]:
    """The controls the viewer may use on the run in its current state."""
    if not viewer.can(Permission.DEPLOY_RUN):
        return []
    state, control = deployment.state, deployment.control
    if state == "succeeded":
        return ["rollback"]
    if state not in deploy_service.ACTIVE_STATES or state == "rolling_back":
        return []
    if control in ("abort", "rollback"):
        return []
    paused = state == "paused" or control == "pause"
    return ["resume" if paused else "pause", "abort", "rollback"]


def fragments_context(view: RunView, viewer: Viewer) -> dict[str, Any]:
    """What the run's fragments (summary, batches) are rendered with."""
    return {
        "deployment": view.deployment,
        "batches": view.batches,
        "note": view.note,
        "controls": controls(view.deployment, viewer),
        "csrf_token": viewer.csrf_token,
        "final": view.deployment.state in deploy_service.FINAL_STATES,
        "deploy_actions": runs.DEPLOY_ACTIONS,
        "rollback_actions": runs.ROLLBACK_ACTIONS,
    }


def sse(event: str, data: str) -> str:
    """One server-sent event (every line of the data prefixed)."""
    lines = "\n".join(f"data: {line}" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n\n"


def _read(db: Database, deployment_id: int) -> RunView:
    with db.session() as session:
        return run_view(session, deployment_id=deployment_id)


def _messages(view: RunView, viewer: Viewer) -> list[str]:
    context = fragments_context(view, viewer)
    return [
        sse("summary", render_fragment("deployments/_summary.html", **context)),
        sse("batches", render_fragment("deployments/_batches.html", **context)),
        sse("chart", str(charts.as_json(view.chart))),
    ]


async def events(
    db: Database, deployment_id: int, request: Request, viewer: Viewer
) -> AsyncIterator[str]:
    """The run's fragments each time it changes, until it finishes (then 'done')."""
    seen: tuple[Any, ...] | None = None
    quiet = 0.0
    yield "retry: 2000\n\n"
    while not await request.is_disconnected():
        view = await run_in_threadpool(_read, db, deployment_id)
        if view.signature != seen:
            seen, quiet = view.signature, 0.0
            for message in _messages(view, viewer):
                yield message
        elif quiet >= HEARTBEAT_S:
            quiet = 0.0
            yield ": still running\n\n"
        if view.deployment.state in deploy_service.FINAL_STATES:
            yield sse("done", view.deployment.state)
            return
        await asyncio.sleep(POLL_S)
        quiet += POLL_S
