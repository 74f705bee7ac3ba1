"""API routes of the release domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.http.deps import DbSession, cursor_to_id, require
from flywheel.release import service
from flywheel.release.schemas import (
    EnvironmentIn,
    EnvironmentOut,
    GateOut,
    ReleaseCreate,
    ReleaseOut,
)
from flywheel.schemas import Page

router = APIRouter(tags=["releases"])

Reader = Annotated[Actor, Depends(require(Permission.RELEASE_READ))]
Manager = Annotated[Actor, Depends(require(Permission.RELEASE_MANAGE))]
Governor = Annotated[Actor, Depends(require(Permission.CHANGE_POLICY_MANAGE))]
EnvName = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


@router.get("/environments", response_model=list[EnvironmentOut])
def list_environments(session: DbSession, _: Reader) -> list[EnvironmentOut]:
    """Environments in promotion order."""
    return [EnvironmentOut.model_validate(e) for e in service.list_environments(session)]


@router.put("/environments/{name}", response_model=EnvironmentOut)
def put_environment(
    name: EnvName, data: EnvironmentIn, session: DbSession, actor: Governor
) -> EnvironmentOut:
    """Create or change an environment (its rank, bake time, whether it needs a change)."""
    env = service.put_environment(session, actor=actor, name=name, data=data)
    session.commit()
    return EnvironmentOut.model_validate(env)


@router.post("/releases", response_model=ReleaseOut, status_code=status.HTTP_201_CREATED)
def create_release(data: ReleaseCreate, session: DbSession, actor: Manager) -> ReleaseOut:
    """Record a release of a service."""
    release = service.create_release(session, actor=actor, data=data)
    session.commit()
    return ReleaseOut.model_validate(release)


@router.get("/releases", response_model=Page[ReleaseOut])
def list_releases(
    session: DbSession,
    _: Reader,
    service_key: Annotated[str | None, Query(alias="service", max_length=200)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[ReleaseOut]:
    """Releases, oldest first."""
    found = service.list_releases(
        session, service=service_key, after_id=cursor_to_id(cursor), limit=limit
    )
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return Page(items=[ReleaseOut.model_validate(r) for r in found], next_cursor=next_cursor)


@router.get("/releases/{release_id}", response_model=ReleaseOut)
def read_release(release_id: int, session: DbSession, _: Reader) -> ReleaseOut:
    """One release."""
    return ReleaseOut.model_validate(service.get_release(session, release_id=release_id))


@router.get("/releases/{release_id}/gates", response_model=list[GateOut])
def release_gates(
    release_id: int,
    session: DbSession,
    _: Reader,
    environment: Annotated[str, Query(min_length=1, max_length=32)] = "production",
    change_id: Annotated[int | None, Query(ge=1)] = None,
) -> list[GateOut]:
    """What the gates say about deploying this release to an environment now."""
    release = service.get_release(session, release_id=release_id)
    gates = service.evaluate_gates(
        session,
        service=release.service,
        environment=environment,
        version=release.version_label,
        change_id=change_id,
        release_id=release_id,
    )
    return [GateOut.model_validate(g) for g in gates]
