"""API routes of HTTP probes: define them on CIs, read their runs, run them now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.config import Settings
from flywheel.errors import NotFound
from flywheel.http.deps import DbSession, get_database, require
from flywheel.incident import probe_runner, probe_service
from flywheel.incident.probe_models import Probe
from flywheel.incident.probe_schemas import (
    ProbeCreate,
    ProbeDetail,
    ProbeOut,
    ProbeRunOut,
    ProbeUpdate,
    RunDueOut,
)

router = APIRouter(tags=["probes"])

Reader = Annotated[Actor, Depends(require(Permission.INCIDENT_READ))]
Manager = Annotated[Actor, Depends(require(Permission.PROBE_MANAGE))]


def _detail(session: DbSession, probe: Probe) -> ProbeDetail:
    runs = [
        ProbeRunOut.model_validate(r) for r in probe_service.recent_runs(session, probe_id=probe.id)
    ]
    for run in runs:
        run.probe = probe.name
    passing = sum(r.ok for r in runs)
    shown = ProbeOut.model_validate(probe).model_dump()
    return ProbeDetail(**shown, recent=runs, availability=passing / len(runs) if runs else None)


@router.post("/probes", response_model=ProbeOut, status_code=status.HTTP_201_CREATED)
def create_probe(data: ProbeCreate, session: DbSession, actor: Manager) -> ProbeOut:
    """Add an HTTP probe of a CI; it is due at once."""
    probe = probe_service.create_probe(session, actor=actor, data=data)
    session.commit()
    return ProbeOut.model_validate(probe)


@router.get("/probes", response_model=list[ProbeOut])
def list_probes(
    session: DbSession,
    _: Reader,
    ci_key: Annotated[str | None, Query(max_length=200)] = None,
) -> list[ProbeOut]:
    """Every probe, or a CI's."""
    return [ProbeOut.model_validate(p) for p in probe_service.list_probes(session, ci_key=ci_key)]


@router.get("/probes/{name}", response_model=ProbeDetail)
def show_probe(name: str, session: DbSession, _: Reader) -> ProbeDetail:
    """A probe with its latest runs."""
    return _detail(session, probe_service.get_probe(session, name=name))


@router.patch("/probes/{name}", response_model=ProbeOut)
def update_probe(
    name: str, data: ProbeUpdate, request: Request, session: DbSession, actor: Manager
) -> ProbeOut:
    """Change a probe (send the version you read; a stale one gets 409)."""
    probe = probe_service.update_probe(session, actor=actor, name=name, data=data)
    if not probe.enabled:
        probe_runner.settle(session, request.app.state.settings, probe, "probe disabled")
    session.commit()
    return ProbeOut.model_validate(probe)


@router.delete("/probes/{name}", response_model=ProbeOut)
def remove_probe(
    name: str,
    request: Request,
    session: DbSession,
    actor: Manager,
    version: Annotated[
        int | None, Query(ge=1, description="Refuse (409) if changed since.")
    ] = None,
) -> ProbeOut:
    """Remove a probe and its runs."""
    found = probe_service.get_probe(session, name=name)
    if version is not None:
        probe_service.check_version(found, version)
    probe_runner.settle(session, request.app.state.settings, found, "probe removed")
    probe = probe_service.remove_probe(session, actor=actor, name=name, version=version)
    shown = ProbeOut.model_validate(probe)
    session.commit()
    return shown


@router.post("/probes/{name}/run", response_model=ProbeRunOut)
def run_probe(name: str, request: Request, _: Manager) -> ProbeRunOut:
    """Run one probe now, outside its schedule; the run counts like a scheduled one."""
    settings: Settings = request.app.state.settings
    done = probe_runner.run_now(get_database(request), settings, name=name)
    if done is None:
        raise NotFound(f"probe '{name}' was removed while it ran")
    return ProbeRunOut.model_validate(done)


@router.post("/probe-runs", response_model=RunDueOut)
def run_due_probes(request: Request, _: Manager) -> RunDueOut:
    """One scheduler pass: run every probe that is due (claimed, so never twice)."""
    settings: Settings = request.app.state.settings
    done = probe_runner.run_due(get_database(request), settings)
    return RunDueOut(ran=[ProbeRunOut.model_validate(r) for r in done])
