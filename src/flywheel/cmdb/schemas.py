"""Request and response models of the CMDB."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from flywheel.cmdb.propagation import MinUp
from flywheel.cmdb.vocabulary import CI_KEY_PATTERN, TYPE_NAME_PATTERN, Lifecycle, RelType
from flywheel.schemas import RequestModel, ResponseModel, Slug, VersionedUpdate

CIKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=CI_KEY_PATTERN, strip_whitespace=True),
]
TypeName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TYPE_NAME_PATTERN)]
Environment = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")
]
Criticality = Annotated[int, Field(ge=1, le=4, description="1 = most critical, 4 = least")]
MinUpText = Annotated[
    str,
    StringConstraints(pattern=r"^\d{1,6}%?$", strip_whitespace=True),
    Field(description="A count ('4') or a percentage of the pool ('66%')"),
]


def _min_up_text(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        MinUp.parse(value)  # ValueError names what is wrong
    return value


class CITypeCreate(RequestModel):
    """A new CI type."""

    name: TypeName
    description: str = Field(default="", max_length=500)
    attribute_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema the attributes of CIs of this type must satisfy"
    )


class CITypeOut(ResponseModel):
    """A CI type."""

    name: str
    description: str
    attribute_schema: dict[str, Any] | None
    builtin: bool


class CICreate(RequestModel):
    """A new configuration item."""

    key: CIKey
    name: str = Field(min_length=1, max_length=200)
    type: TypeName
    environment: Environment = "production"
    status: Lifecycle = Lifecycle.OPERATIONAL
    criticality: Criticality = 3
    owner_team: Slug | None = None
    min_up: MinUpText | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    _min_up = field_validator("min_up", mode="before")(_min_up_text)


class CIUpdate(VersionedUpdate):
    """Changes to a CI; omitted fields stay, `null` clears owner_team or min_up."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    environment: Environment | None = None
    status: Lifecycle | None = None
    criticality: Criticality | None = None
    owner_team: Slug | None = None
    min_up: MinUpText | None = None
    attributes: dict[str, Any] | None = Field(default=None, description="Replaces all attributes")

    _min_up = field_validator("min_up", mode="before")(_min_up_text)


class CIOut(ResponseModel):
    """A configuration item."""

    key: str
    name: str
    type: str
    environment: str
    status: str
    criticality: int
    owner_team: str | None
    min_up: str | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int


class RelationshipCreate(RequestModel):
    """A new relationship: `source` needs `target`."""

    source: CIKey
    type: RelType
    target: CIKey
    optional: bool = Field(default=False, description="A soft dependency: failure only degrades")


class RelationshipOut(ResponseModel):
    """A relationship between two CIs."""

    id: int
    source: str
    type: str
    target: str
    optional: bool
    created_at: datetime


class ChangeOut(ResponseModel):
    """One entry of a CI's history."""

    occurred_at: datetime
    actor: str
    op: str
    ci_key: str
    other_key: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class WhatIf(RequestModel):
    """A set of CIs to take out together, e.g. the next batch of a rolling deploy."""

    keys: list[CIKey] = Field(min_length=1, max_length=10_000)
    top_tenants: int = Field(default=10, ge=0, le=1000)


class ServiceImpactOut(ResponseModel):
    """How one business service fares."""

    key: str
    name: str
    status: str
    redundancy_left: int | None
    path: list[str]


class ImpairedOut(ResponseModel):
    """A CI between the failure and the services, and how it fares."""

    key: str
    type: str
    status: str
    redundancy_left: int | None


class TenantOut(ResponseModel):
    """An affected tenant."""

    key: str
    name: str
    criticality: int


class ImpactOut(ResponseModel):
    """What fails, and for whom, if the given CIs fail."""

    failed: list[str]
    status: str
    summary: str
    business_services: list[ServiceImpactOut]
    impaired: list[ImpairedOut] = Field(description="Worst first; at most 500 listed")
    impaired_count: int
    tenants_affected: int
    top_tenants: list[TenantOut]


class DependencyOut(ResponseModel):
    """A CI that the asked-about CI needs, directly or not."""

    key: str
    type: str
    depth: int


class EdgeOut(ResponseModel):
    """A relationship walked."""

    source: str
    type: str
    target: str


class DependenciesOut(ResponseModel):
    """What a CI needs."""

    key: str
    dependencies: list[DependencyOut]
    edges: list[EdgeOut]


class ImportTeam(RequestModel):
    """A team that owns CIs; an import creates it if it does not exist (members aside)."""

    key: Slug
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)


class ImportBatch(RequestModel):
    """CI types, teams, CIs and relationships to upsert by key in one transaction."""

    types: list[CITypeCreate] = Field(default_factory=list, max_length=1000)
    teams: list[ImportTeam] = Field(default_factory=list, max_length=1000)
    cis: list[CICreate] = Field(default_factory=list, max_length=50_000)
    relationships: list[RelationshipCreate] = Field(default_factory=list, max_length=100_000)


class ImportResult(ResponseModel):
    """What an import changed."""

    cis_created: int
    cis_updated: int
    cis_unchanged: int
    relationships_created: int
    relationships_unchanged: int
    types_created: int = 0
    teams_created: int = 0
