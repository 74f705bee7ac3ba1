"""Releases and environments, and the gates a deployment must pass before it starts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.change import service as change_service
from flywheel.cmdb import service as cmdb_service
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput, NotFound
from flywheel.release.models import Environment, Release
from flywheel.release.schemas import EnvironmentIn, ReleaseCreate

Gate = dict[str, Any]
# Gates other domains add when they exist (open incidents, error budget): name → check.
EXTRA_GATES: dict[str, Callable[[Session, str], Gate]] = {}
# The same, for gates that also judge the change being deployed (its type, its links):
# name → check(session, service, change_id). Consulted before EXTRA_GATES.
EXTRA_CHANGE_GATES: dict[str, Callable[[Session, str, int | None], Gate]] = {}


def put_environment(
    session: Session, *, actor: Actor, name: str, data: EnvironmentIn
) -> Environment:
    """Create or update an environment."""
    env = session.get(Environment, name)
    before = None if env is None else {"rank": env.rank, "bake_s": env.bake_s}
    clash = session.scalar(
        select(Environment).where(Environment.rank == data.rank, Environment.name != name)
    )
    if clash is not None:
        raise Conflict(f"environment '{clash.name}' already has rank {data.rank}")
    if env is None:
        env = Environment(name=name, rank=data.rank)
        session.add(env)
    env.rank, env.bake_s, env.requires_change = data.rank, data.bake_s, data.requires_change
    audit.record(
        session,
        actor=actor,
        action="release.environment",
        object_type="environment",
        object_id=name,
        before=before,
        after=data.model_dump(),
    )
    return env


def list_environments(session: Session) -> list[Environment]:
    """Environments in promotion order."""
    return list(session.scalars(select(Environment).order_by(Environment.rank)))


def create_release(session: Session, *, actor: Actor, data: ReleaseCreate) -> Release:
    """Record a release of a service; the same service and version twice is a conflict."""
    cmdb_service.get_ci(session, key=data.service)
    for change_id in data.change_ids:
        change_service.get_change(session, change_id=change_id)
    release = Release(
        service=data.service,
        version_label=data.version,
        artifact=data.artifact,
        notes=data.notes,
        change_ids=data.change_ids,
        created_by=actor.name,
    )
    try:
        with session.begin_nested():
            session.add(release)
    except IntegrityError as exc:
        raise Conflict(f"{data.service} {data.version} is already released") from exc
    audit.record(
        session,
        actor=actor,
        action="release.create",
        object_type="release",
        object_id=release.id,
        after=data.model_dump(),
    )
    return release


def get_release(session: Session, *, release_id: int) -> Release:
    """A release by id, or NotFound."""
    release = session.get(Release, release_id)
    if release is None:
        raise NotFound(f"no release {release_id}")
    return release


def list_releases(
    session: Session, *, service: str | None = None, after_id: int = 0, limit: int = 100
) -> list[Release]:
    """Releases, oldest first."""
    query = select(Release).where(Release.id > after_id)
    if service:
        query = query.where(Release.service == service)
    return list(session.scalars(query.order_by(Release.id).limit(limit)))


def _gate(name: str, status: str, reason: str) -> Gate:
    return {"gate": name, "status": status, "reason": reason}


def _change_gate(session: Session, env: Environment | None, change_id: int | None) -> Gate:
    needed = env.requires_change if env is not None else True
    if change_id is None:
        if needed:
            return _gate("change", "fail", "no change request: production needs an approved one")
        return _gate("change", "skip", "this environment needs no change request")
    ok, reason = change_service.deployment_gate(session, change_id=change_id)
    return _gate("change", "pass" if ok else "fail", reason)


def _previous_environment_gate(
    session: Session, env: Environment | None, service: str, version: str
) -> Gate:
    if env is None:
        return _gate("previous_environment", "skip", "environments are not configured")
    previous = session.scalar(
        select(Environment).where(Environment.rank < env.rank).order_by(Environment.rank.desc())
    )
    if previous is None:
        return _gate("previous_environment", "skip", f"{env.name} is the first environment")
    # Imported here: the deploy domain asks this one for its gates.
    from flywheel.deploy import service as deploy_service

    finished = deploy_service.last_success(
        session, service=service, environment=previous.name, version=version
    )
    if finished is None:
        return _gate(
            "previous_environment", "fail", f"{version} has not been deployed to {previous.name}"
        )
    baked = utcnow() - finished
    if baked < timedelta(seconds=previous.bake_s):
        left = timedelta(seconds=previous.bake_s) - baked
        return _gate(
            "previous_environment",
            "fail",
            f"{version} is still baking in {previous.name} ({int(left.total_seconds())} s left)",
        )
    return _gate("previous_environment", "pass", f"{version} ran healthy in {previous.name}")


def evaluate_gates(
    session: Session,
    *,
    service: str,
    environment: str,
    version: str,
    change_id: int | None,
    release_id: int | None = None,
) -> list[Gate]:
    """Every gate's answer for deploying this version of a service to an environment now."""
    if release_id is not None:
        release = get_release(session, release_id=release_id)
        if release.version_label != version:
            raise InvalidInput(f"release {release_id} is {release.version_label}, not {version}")
    env = session.get(Environment, environment)
    gates = [
        _change_gate(session, env, change_id),
        _previous_environment_gate(session, env, service, version),
    ]
    for name in ("incidents", "error_budget"):
        gates.append(_extra_gate(session, name, service, change_id))
    return gates


def _extra_gate(session: Session, name: str, service: str, change_id: int | None) -> Gate:
    with_change = EXTRA_CHANGE_GATES.get(name)
    if with_change is not None:
        return with_change(session, service, change_id)
    check = EXTRA_GATES.get(name)
    return check(session, service) if check else _gate(name, "skip", "not configured")
