"""API routes of the CMDB."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission
from flywheel.cmdb import bulk, service
from flywheel.cmdb.schemas import (
    ChangeOut,
    CICreate,
    CIOut,
    CITypeCreate,
    CITypeOut,
    CIUpdate,
    DependenciesOut,
    ImpactOut,
    ImportBatch,
    ImportResult,
    RelationshipCreate,
    RelationshipOut,
    WhatIf,
)
from flywheel.http.deps import DbSession, cursor_to_id, require
from flywheel.schemas import Page

router = APIRouter(tags=["cmdb"])

Reader = Annotated[Actor, Depends(require(Permission.CMDB_READ))]
Writer = Annotated[Actor, Depends(require(Permission.CMDB_WRITE))]
TypeAdmin = Annotated[Actor, Depends(require(Permission.CMDB_TYPE_MANAGE))]


@router.get("/ci-types", response_model=list[CITypeOut])
def list_ci_types(session: DbSession, _: Reader) -> list[CITypeOut]:
    """Every CI type, built-in first."""
    return [CITypeOut.model_validate(t) for t in service.list_types(session)]


@router.post("/ci-types", response_model=CITypeOut, status_code=status.HTTP_201_CREATED)
def create_ci_type(data: CITypeCreate, session: DbSession, actor: TypeAdmin) -> CITypeOut:
    """Add a CI type, optionally with a JSON Schema for its attributes."""
    ci_type = service.create_type(session, actor=actor, data=data)
    session.commit()
    return CITypeOut.model_validate(ci_type)


@router.get("/cis", response_model=Page[CIOut])
def list_cis(
    session: DbSession,
    _: Reader,
    type: str | None = None,
    environment: str | None = None,
    owner_team: str | None = None,
    key_prefix: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[CIOut]:
    """CIs, filtered; follow next_cursor for more."""
    cis = service.list_cis(
        session,
        ci_type=type,
        environment=environment,
        owner_team=owner_team,
        key_prefix=key_prefix,
        after_id=cursor_to_id(cursor),
        limit=limit,
    )
    next_cursor = str(cis[-1].id) if len(cis) == limit else None
    return Page(items=[CIOut.model_validate(c) for c in cis], next_cursor=next_cursor)


@router.post("/cis", response_model=CIOut, status_code=status.HTTP_201_CREATED)
def create_ci(data: CICreate, session: DbSession, actor: Writer) -> CIOut:
    """Add a configuration item."""
    ci = service.create_ci(session, actor=actor, data=data)
    session.commit()
    return CIOut.model_validate(ci)


@router.get("/cis/{key}/history", response_model=Page[ChangeOut])
def ci_history(
    key: str,
    session: DbSession,
    _: Reader,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[ChangeOut]:
    """Who changed what and when, newest first (relationships included)."""
    before = cursor_to_id(cursor) or None
    changes = service.history(session, key=key, before_id=before, limit=limit)
    next_cursor = str(changes[-1].id) if len(changes) == limit else None
    return Page(items=[ChangeOut.model_validate(c) for c in changes], next_cursor=next_cursor)


@router.get("/cis/{key}/relationships", response_model=list[RelationshipOut])
def ci_relationships(key: str, session: DbSession, _: Reader) -> list[RelationshipOut]:
    """Relationships from and to a CI."""
    return [
        RelationshipOut(
            id=r.id, source=s, type=r.type, target=t, optional=r.optional, created_at=r.created_at
        )
        for r, s, t in service.relationships_of(session, key=key)
    ]


@router.get("/cis/{key}/impact", response_model=ImpactOut)
def ci_impact(
    key: str,
    session: DbSession,
    _: Reader,
    top_tenants: Annotated[int, Query(ge=0, le=1000)] = 10,
) -> ImpactOut:
    """If this CI fails: the business services down or degraded, tenants affected, and why."""
    return service.impact(session, keys=[key], top_tenants=top_tenants)


@router.get("/cis/{key}/dependencies", response_model=DependenciesOut)
def ci_dependencies(
    key: str,
    session: DbSession,
    _: Reader,
    depth: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> DependenciesOut:
    """What this CI needs, directly and transitively."""
    return service.dependencies(session, key=key, max_depth=depth)


@router.get("/cis/{key}", response_model=CIOut)
def read_ci(key: str, session: DbSession, _: Reader) -> CIOut:
    """One configuration item."""
    return CIOut.model_validate(service.get_ci(session, key=key))


@router.patch("/cis/{key}", response_model=CIOut)
def update_ci(key: str, data: CIUpdate, session: DbSession, actor: Writer) -> CIOut:
    """Change a CI (send the version you read)."""
    ci = service.update_ci(session, actor=actor, key=key, data=data)
    session.commit()
    return CIOut.model_validate(ci)


@router.post("/impact", response_model=ImpactOut)
def what_if(data: WhatIf, session: DbSession, _: Reader) -> ImpactOut:
    """What-if: the impact of several CIs failing together (e.g. a deploy batch)."""
    return service.impact(session, keys=data.keys, top_tenants=data.top_tenants)


@router.post("/relationships", response_model=RelationshipOut, status_code=201)
def create_relationship(
    data: RelationshipCreate, session: DbSession, actor: Writer
) -> RelationshipOut:
    """Relate two CIs: `source` needs `target`."""
    rel, source, target = service.add_relationship(session, actor=actor, data=data)
    session.commit()
    return RelationshipOut(
        id=rel.id,
        source=source.key,
        type=rel.type,
        target=target.key,
        optional=rel.optional,
        created_at=rel.created_at,
    )


@router.delete("/relationships/{rel_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_relationship(rel_id: int, session: DbSession, actor: Writer) -> None:
    """Remove a relationship."""
    service.remove_relationship(session, actor=actor, rel_id=rel_id)
    session.commit()


@router.post("/cmdb/import", response_model=ImportResult)
def import_batch(data: ImportBatch, session: DbSession, actor: Writer) -> ImportResult:
    """Upsert CIs and relationships by key, all or nothing (for discovery and pipelines)."""
    result = bulk.import_batch(session, actor=actor, batch=data)
    session.commit()
    return result
