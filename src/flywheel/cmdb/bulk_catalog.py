"""The CI types and teams an import batch brings: checked first, the missing ones created.

Types: a type not stored yet is created (it needs the `cmdb_type:manage` permission); a
stored type listed with the same description and attribute_schema is left as it is; one
listed differently is a row problem, since an import adds types but never changes them
(their CIs were validated against the stored schema).

Teams belong to the auth domain and are only reached through `auth.service`: a team
listed in the batch and not stored yet is created without members (`team:manage`);
a stored team is left as it is. A CI whose owner_team is neither stored nor listed
is a row problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.auth.policy import require_permission
from flywheel.auth.roles import Permission
from flywheel.auth.schemas import TeamCreate
from flywheel.cmdb import service
from flywheel.cmdb.models import CIType
from flywheel.cmdb.schemas import CITypeCreate, ImportBatch, ImportTeam
from flywheel.cmdb.validation import check_attribute_schema
from flywheel.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be imported (by section and index in it), and why."""

    section: str
    index: int
    message: str

    def __str__(self) -> str:
        return f"{self.section}[{self.index}]: {self.message}"


@dataclass
class Catalog:
    """What the CIs of a batch may refer to once the batch is in, and what it creates."""

    schemas: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    teams: set[str] = field(default_factory=set)
    new_types: list[CITypeCreate] = field(default_factory=list)
    new_teams: list[ImportTeam] = field(default_factory=list)


def check(session: Session, batch: ImportBatch, problems: list[RowProblem]) -> Catalog:
    """The types and teams known after this batch; problems for rows that conflict."""
    catalog = Catalog()
    stored = {t.name: t for t in session.scalars(select(CIType))}
    catalog.schemas = {name: t.attribute_schema for name, t in stored.items()}
    seen: set[str] = set()
    for i, wanted in enumerate(batch.types):
        problem = _type_problem(wanted, stored.get(wanted.name), seen)
        seen.add(wanted.name)
        if problem:
            problems.append(RowProblem("types", i, problem))
        elif wanted.name not in stored:
            catalog.new_types.append(wanted)
            catalog.schemas[wanted.name] = wanted.attribute_schema
    _check_teams(session, batch, catalog, problems)
    return catalog


def _type_problem(wanted: CITypeCreate, stored: CIType | None, seen: set[str]) -> str | None:
    if wanted.name in seen:
        return f"CI type '{wanted.name}' is listed twice"
    if stored is None:
        try:
            check_attribute_schema(wanted.attribute_schema)
        except InvalidInput as exc:
            return f"CI type '{wanted.name}': {exc.message}"
        return None
    differs = [
        name
        for name in ("description", "attribute_schema")
        if getattr(stored, name) != getattr(wanted, name)
    ]
    if differs:
        return (
            f"CI type '{wanted.name}' exists with a different {' and '.join(differs)}"
            " (an import adds CI types but does not change them)"
        )
    return None


def _check_teams(
    session: Session, batch: ImportBatch, catalog: Catalog, problems: list[RowProblem]
) -> None:
    listed: set[str] = set()
    for i, team in enumerate(batch.teams):
        if team.key in listed:
            problems.append(RowProblem("teams", i, f"team '{team.key}' is listed twice"))
            continue
        listed.add(team.key)
        if not _team_exists(session, team.key):
            catalog.new_teams.append(team)
    owners = {ci.owner_team for ci in batch.cis if ci.owner_team is not None}
    catalog.teams = listed | {key for key in owners - listed if _team_exists(session, key)}


def _team_exists(session: Session, key: str) -> bool:
    try:
        auth_service.get_team(session, key=key)
    except NotFound:
        return False
    return True


def create(session: Session, *, actor: Actor, catalog: Catalog) -> None:
    """Create the batch's new types and teams (each audited), if the actor may."""
    if catalog.new_types:
        require_permission(actor, Permission.CMDB_TYPE_MANAGE)
    if catalog.new_teams:
        require_permission(actor, Permission.TEAM_MANAGE)
    for ci_type in catalog.new_types:
        service.create_type(session, actor=actor, data=ci_type)
    for team in catalog.new_teams:
        data = TeamCreate(key=team.key, name=team.name, description=team.description)
        auth_service.create_team(session, actor=actor, data=data)
