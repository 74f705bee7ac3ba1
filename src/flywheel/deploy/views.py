"""API routes of the deploy domain."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.db import Database
from flywheel.deploy import durable, service
from flywheel.deploy.schemas import (
    ControlRequest,
    DeploymentCreate,
    DeploymentDetailOut,
    DeploymentOut,
    StepOut,
)
from flywheel.http.deps import DbSession, cursor_to_id, get_database, require
from flywheel.schemas import Page

router = APIRouter(tags=["deployments"])

Reader = Annotated[Actor, Depends(require(Permission.DEPLOY_READ))]
Runner = Annotated[Actor, Depends(require(Permission.DEPLOY_RUN))]


def _start(request: Request, deployment_id: int, workflow_id: str) -> None:
    durable.submit(get_database(request), request.app.state.settings, deployment_id, workflow_id)


def _detail(session: DbSession, deployment_id: int) -> DeploymentDetailOut:
    deployment = service.get_deployment(session, deployment_id=deployment_id)
    steps = service.steps_of(session, deployment_id=deployment_id)
    out = DeploymentDetailOut.model_validate(deployment)
    out.steps = [StepOut.model_validate(s) for s in steps]
    return out


@router.post("/deployments", response_model=DeploymentOut, status_code=status.HTTP_201_CREATED)
def create_deployment(
    data: DeploymentCreate, request: Request, session: DbSession, actor: Runner
) -> DeploymentOut:
    """Gate, plan and start a rolling bounce; 409 names the failing gates."""
    deployment = service.create_deployment(session, actor=actor, data=data)
    session.commit()
    _start(request, deployment.id, deployment.workflow_id)
    return DeploymentOut.model_validate(deployment)


@router.get("/deployments", response_model=Page[DeploymentOut])
def list_deployments(
    session: DbSession,
    _: Reader,
    service_key: Annotated[str | None, Query(alias="service", max_length=200)] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[DeploymentOut]:
    """Deployments, oldest first; filter by service or state."""
    found = service.list_deployments(
        session, service=service_key, state=state, after_id=cursor_to_id(cursor), limit=limit
    )
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page(items=[DeploymentOut.model_validate(d) for d in found], next_cursor=next_cursor)


@router.get("/deployments/{deployment_id}", response_model=DeploymentDetailOut)
def read_deployment(deployment_id: int, session: DbSession, _: Reader) -> DeploymentDetailOut:
    """A deployment with every step it took."""
    return _detail(session, deployment_id)


def _control(control: str):  # type: ignore[no-untyped-def]
    def endpoint(
        deployment_id: int, data: ControlRequest, session: DbSession, actor: Runner
    ) -> DeploymentDetailOut:
        service.request_control(
            session,
            actor=actor,
            deployment_id=deployment_id,
            control=control,
            reason=data.reason,
            override_gates=data.override_gates,
        )
        session.commit()
        return _detail(session, deployment_id)

    endpoint.__doc__ = f"Ask a running deployment to {control}."
    return endpoint


for _name in ("pause", "resume", "abort"):
    router.add_api_route(
        f"/deployments/{{deployment_id}}/{_name}",
        _control(_name),
        methods=["POST"],
        response_model=DeploymentDetailOut,
        name=f"{_name}_deployment",
    )


@router.post(
    "/deployments/{deployment_id}/rollback",
    response_model=DeploymentOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def roll_back_deployment(
    deployment_id: int, data: ControlRequest, request: Request, session: DbSession, actor: Runner
) -> DeploymentOut:
    """Roll back: a run in flight undoes its batches; a finished one is redeployed as it was."""
    deployment = service.roll_back(
        session, actor=actor, deployment_id=deployment_id, reason=data.reason
    )
    session.commit()
    if deployment.id != deployment_id:
        _start(request, deployment.id, deployment.workflow_id)
    return DeploymentOut.model_validate(deployment)


async def _events(db: Database, deployment_id: int, request: Request) -> AsyncIterator[str]:
    seen: dict[int, str] = {}
    state = ""
    while not await request.is_disconnected():
        with db.session() as session:
            detail = await run_in_threadpool(_detail, session, deployment_id)
        for step in detail.steps:
            if seen.get(step.seq) != step.state:
                seen[step.seq] = step.state
                yield f"event: step\ndata: {step.model_dump_json()}\n\n"
        if detail.state != state:
            state = detail.state
            payload = {"state": state, "reason": detail.status_reason}
            yield f"event: state\ndata: {json.dumps(payload)}\n\n"
        if state in service.FINAL_STATES:
            return
        await asyncio.sleep(0.5)


@router.get("/deployments/{deployment_id}/events")
def deployment_events(
    deployment_id: int, request: Request, session: DbSession, _: Reader
) -> StreamingResponse:
    """Server-sent events: each step as it starts and ends, and state changes, until done."""
    service.get_deployment(session, deployment_id=deployment_id)
    return StreamingResponse(
        _events(get_database(request), deployment_id, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )
