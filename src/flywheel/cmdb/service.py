"""The CMDB's work on a session: types, CIs, relationships, history, impact."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.cmdb import index
from flywheel.cmdb.models import CIType, CmdbChange, ConfigurationItem, Relationship
from flywheel.cmdb.schemas import CICreate, CITypeCreate, CIUpdate, RelationshipCreate
from flywheel.cmdb.validation import check_attribute_schema, check_attributes, check_min_up
from flywheel.cmdb.vocabulary import RelType, check_relationship_ends
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput, NotFound, StaleVersion

_CI_FIELDS = (
    "name",
    "type",
    "environment",
    "status",
    "criticality",
    "owner_team",
    "min_up",
    "attributes",
)


def ci_summary(ci: ConfigurationItem) -> dict[str, Any]:
    """What the history and audit trail keep of a CI."""
    return {"key": ci.key, **{f: getattr(ci, f) for f in _CI_FIELDS}}


def record_change(
    session: Session,
    *,
    actor: Actor,
    op: str,
    ci_key: str,
    other_key: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    audit_seq: int | None = None,
) -> None:
    """Write a history entry (and, unless part of a batch, its audit event)."""
    if audit_seq is None:
        event = audit.record(
            session,
            actor=actor,
            action=f"cmdb.{op}",
            object_type="ci" if op.startswith("ci.") else "ci_relationship",
            object_id=ci_key if other_key is None else f"{ci_key}->{other_key}",
            before=before,
            after=after,
        )
        audit_seq = event.seq
    session.add(
        CmdbChange(
            audit_seq=audit_seq,
            occurred_at=utcnow(),
            actor=actor.name,
            op=op,
            ci_key=ci_key,
            other_key=other_key,
            before=before,
            after=after,
        )
    )


def list_types(session: Session) -> list[CIType]:
    """Every CI type, built-in first."""
    return list(session.scalars(select(CIType).order_by(CIType.builtin.desc(), CIType.name)))


def get_type(session: Session, *, name: str) -> CIType:
    """A CI type, or InvalidInput naming the known ones."""
    ci_type = session.get(CIType, name)
    if ci_type is None:
        known = ", ".join(t.name for t in list_types(session))
        raise InvalidInput(f"unknown CI type '{name}' (known: {known})")
    return ci_type


def create_type(session: Session, *, actor: Actor, data: CITypeCreate) -> CIType:
    """Add a CI type."""
    if session.get(CIType, data.name) is not None:
        raise Conflict(f"CI type '{data.name}' already exists")
    check_attribute_schema(data.attribute_schema)
    ci_type = CIType(
        name=data.name, description=data.description, attribute_schema=data.attribute_schema
    )
    session.add(ci_type)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="cmdb.type.create",
        object_type="ci_type",
        object_id=data.name,
        after=data.model_dump(),
    )
    return ci_type


def get_ci(session: Session, *, key: str) -> ConfigurationItem:
    """The CI with this key, or NotFound."""
    ci = session.scalar(select(ConfigurationItem).where(ConfigurationItem.key == key))
    if ci is None:
        raise NotFound(f"no configuration item '{key}'")
    return ci


def list_cis(
    session: Session,
    *,
    ci_type: str | None = None,
    environment: str | None = None,
    owner_team: str | None = None,
    key_prefix: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[ConfigurationItem]:
    """CIs matching the filters, ordered by id."""
    query = select(ConfigurationItem).where(ConfigurationItem.id > after_id)
    if ci_type:
        query = query.where(ConfigurationItem.type == ci_type)
    if environment:
        query = query.where(ConfigurationItem.environment == environment)
    if owner_team:
        query = query.where(ConfigurationItem.owner_team == owner_team)
    if key_prefix:
        query = query.where(ConfigurationItem.key.startswith(key_prefix, autoescape=True))
    return list(session.scalars(query.order_by(ConfigurationItem.id).limit(limit)))


def _check_team(session: Session, team: str | None) -> None:
    if team is None:
        return
    try:
        auth_service.get_team(session, key=team)
    except NotFound as exc:
        raise InvalidInput(f"unknown owner_team '{team}'") from exc


def member_count(session: Session, ci_id: int) -> int:
    """How many CIs are member_of this one."""
    query = select(func.count(Relationship.id)).where(
        Relationship.target_id == ci_id, Relationship.type == RelType.MEMBER_OF.value
    )
    return int(session.scalar(query) or 0)


def create_ci(session: Session, *, actor: Actor, data: CICreate) -> ConfigurationItem:
    """Add a CI; the key must be new."""
    if session.scalar(select(ConfigurationItem.id).where(ConfigurationItem.key == data.key)):
        raise Conflict(f"configuration item '{data.key}' already exists")
    ci_type = get_type(session, name=data.type)
    check_attributes(ci_type.name, ci_type.attribute_schema, data.attributes)
    _check_team(session, data.owner_team)
    ci = ConfigurationItem(**data.model_dump())
    session.add(ci)
    session.flush()
    record_change(session, actor=actor, op="ci.create", ci_key=ci.key, after=ci_summary(ci))
    return ci


def update_ci(session: Session, *, actor: Actor, key: str, data: CIUpdate) -> ConfigurationItem:
    """Change a CI (send the version you read); history keeps before and after."""
    ci = get_ci(session, key=key)
    if ci.version != data.version:
        raise StaleVersion(
            f"configuration item '{key}' is at version {ci.version}, not {data.version}",
            details={"current_version": ci.version},
        )
    before = ci_summary(ci)
    changes = {f: getattr(data, f) for f in data.model_fields_set if f != "version"}
    nullable = {"owner_team", "min_up"}
    changes = {f: v for f, v in changes.items() if v is not None or f in nullable}
    for field, value in changes.items():
        setattr(ci, field, value)
    ci_type = get_type(session, name=ci.type)
    check_attributes(ci_type.name, ci_type.attribute_schema, ci.attributes)
    if "owner_team" in changes:
        _check_team(session, ci.owner_team)
    if "min_up" in changes:
        check_min_up(key, ci.min_up, member_count(session, ci.id))
    after = ci_summary(ci)
    if after == before:
        return ci
    ci.updated_at = utcnow()
    session.flush()
    record_change(session, actor=actor, op="ci.update", ci_key=key, before=before, after=after)
    return ci


def relationship_summary(rel: Relationship, source: str, target: str) -> dict[str, Any]:
    """What history keeps of a relationship (the id lets the graph index follow it)."""
    return {
        "id": rel.id,
        "source": source,
        "type": rel.type,
        "target": target,
        "optional": rel.optional,
    }


def add_relationship(
    session: Session, *, actor: Actor, data: RelationshipCreate
) -> tuple[Relationship, ConfigurationItem, ConfigurationItem]:
    """Link two existing CIs; the same link twice is a conflict."""
    source, target = _existing(session, data.source), _existing(session, data.target)
    if source.id == target.id:
        raise InvalidInput(f"'{data.source}' cannot be related to itself")
    problem = check_relationship_ends(data.type, source.type, target.type)
    if problem:
        raise InvalidInput(problem)
    duplicate = select(Relationship.id).where(
        Relationship.source_id == source.id,
        Relationship.type == data.type.value,
        Relationship.target_id == target.id,
    )
    if session.scalar(duplicate) is not None:
        raise Conflict(f"'{source.key}' already {data.type} '{target.key}'")
    rel = Relationship(
        source_id=source.id, type=data.type.value, target_id=target.id, optional=data.optional
    )
    session.add(rel)
    session.flush()
    summary = relationship_summary(rel, source.key, target.key)
    record_change(
        session,
        actor=actor,
        op="rel.create",
        ci_key=source.key,
        other_key=target.key,
        after=summary,
    )
    return rel, source, target


def _existing(session: Session, key: str) -> ConfigurationItem:
    try:
        return get_ci(session, key=key)
    except NotFound as exc:
        raise InvalidInput(f"no configuration item '{key}' to relate") from exc


def remove_relationship(session: Session, *, actor: Actor, rel_id: int) -> None:
    """Delete a relationship."""
    rel = session.get(Relationship, rel_id)
    if rel is None:
        raise NotFound(f"no relationship {rel_id}")
    source = session.get_one(ConfigurationItem, rel.source_id)
    target = session.get_one(ConfigurationItem, rel.target_id)
    summary = relationship_summary(rel, source.key, target.key)
    session.delete(rel)
    session.flush()
    record_change(
        session,
        actor=actor,
        op="rel.delete",
        ci_key=source.key,
        other_key=target.key,
        before=summary,
    )


def relationships_of(
    session: Session, *, key: str, limit: int = 1000
) -> list[tuple[Relationship, str, str]]:
    """Relationships that start or end at a CI, with both keys."""
    ci = get_ci(session, key=key)
    source = ConfigurationItem.__table__.alias("s")
    target = ConfigurationItem.__table__.alias("t")
    query = (
        select(Relationship, source.c.key, target.c.key)
        .join(source, source.c.id == Relationship.source_id)
        .join(target, target.c.id == Relationship.target_id)
        .where(or_(Relationship.source_id == ci.id, Relationship.target_id == ci.id))
        .order_by(Relationship.id)
        .limit(limit)
    )
    return [(rel, s, t) for rel, s, t in session.execute(query)]


def history(
    session: Session, *, key: str, before_id: int | None = None, limit: int = 100
) -> list[CmdbChange]:
    """A CI's history, newest first, including relationships to and from it."""
    get_ci(session, key=key)
    query = select(CmdbChange).where(or_(CmdbChange.ci_key == key, CmdbChange.other_key == key))
    if before_id is not None:
        query = query.where(CmdbChange.id < before_id)
    return list(session.scalars(query.order_by(CmdbChange.id.desc()).limit(limit)))


def impact(
    session: Session, *, keys: list[str], top_tenants: int = 10, sync: bool = True
) -> index.ImpactReport:
    """If these CIs fail together: the services down or degraded, tenants hit, and why.

    sync=False skips catching the graph index up (the caller did, via warm_index).
    """
    return index.impact(session, keys=keys, top_tenants=top_tenants, sync=sync)


def dependencies(
    session: Session, *, key: str, max_depth: int | None = None, sync: bool = True
) -> index.DependencyReport:
    """What a CI needs, directly and transitively."""
    return index.dependencies(session, key=key, max_depth=max_depth, sync=sync)


def pool_members(session: Session, *, pool_key: str) -> list[ConfigurationItem]:
    """The CIs that are member_of a pool, by key."""
    pool = get_ci(session, key=pool_key)
    query = (
        select(ConfigurationItem)
        .join(Relationship, Relationship.source_id == ConfigurationItem.id)
        .where(Relationship.target_id == pool.id, Relationship.type == RelType.MEMBER_OF.value)
        .order_by(ConfigurationItem.key)
    )
    return list(session.scalars(query))


def warm_index(session: Session) -> int:
    """Load the impact graph index now rather than on the first query; returns its size."""
    idx = index.index_for(session)
    with idx.lock:
        idx.sync(session)
        return len(idx.graph)


def dependents(session: Session, *, key: str, sync: bool = True) -> set[str]:
    """Keys of every CI that needs this one, directly or transitively (tenants aside)."""
    return index.dependents(session, key=key, sync=sync)


def get_cis(session: Session, *, keys: list[str]) -> list[ConfigurationItem]:
    """The CIs with these keys; NotFound naming any that do not exist."""
    found = list(
        session.scalars(select(ConfigurationItem).where(ConfigurationItem.key.in_(set(keys))))
    )
    missing = sorted(set(keys) - {c.key for c in found})
    if missing:
        raise NotFound(f"no configuration item {', '.join(repr(k) for k in missing)}")
    return found


def find_cis(session: Session, *, keys: list[str]) -> list[ConfigurationItem]:
    """The CIs among these keys that exist; unknown keys are simply not in the answer."""
    wanted = sorted(set(keys))
    found: list[ConfigurationItem] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.extend(
            session.scalars(select(ConfigurationItem).where(ConfigurationItem.key.in_(chunk)))
        )
    return found
