"""Request and response models of the auth domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, EmailStr, Field, StringConstraints

from flywheel.auth.roles import Role
from flywheel.schemas import RequestModel, ResponseModel, Slug, VersionedUpdate

Name = Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)]


class UserCreate(RequestModel):
    """A new user."""

    username: Slug
    full_name: Name = ""
    email: EmailStr | None = None
    roles: list[Role] = Field(default_factory=lambda: [Role.DEVELOPER], max_length=5)
    password: str | None = Field(default=None, min_length=12, max_length=200)


class UserUpdate(VersionedUpdate):
    """Changes to a user; omitted fields stay as they are."""

    full_name: Name | None = None
    email: EmailStr | None = None
    roles: list[Role] | None = Field(default=None, max_length=5)
    is_active: bool | None = None


class UserOut(ResponseModel):
    """A user as the API shows it."""

    id: int
    username: str
    full_name: str
    email: str | None
    roles: list[str] = Field(validation_alias="role_names")
    teams: list[str] = Field(validation_alias="team_keys")
    is_active: bool
    created_at: datetime
    updated_at: datetime
    version: int


class TeamCreate(RequestModel):
    """A new team."""

    key: Slug
    name: Name = Field(min_length=1)
    description: str = Field(default="", max_length=2000)
    members: list[Slug] = Field(default_factory=list, max_length=500)


class TeamUpdate(VersionedUpdate):
    """Changes to a team; `members`, when given, replaces the member list."""

    name: Name | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=2000)
    members: list[Slug] | None = Field(default=None, max_length=500)


class TeamOut(ResponseModel):
    """A team as the API shows it."""

    id: int
    key: str
    name: str
    description: str
    members: list[str] = Field(validation_alias="member_usernames")
    created_at: datetime
    updated_at: datetime
    version: int


class TokenCreate(RequestModel):
    """A new API token, for yourself or (admins) for another user."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    username: Slug | None = None
    expires_at: AwareDatetime | None = None


class TokenOut(ResponseModel):
    """A token's metadata; never the secret."""

    id: int
    name: str
    username: str
    hint: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    created_by: str


class TokenCreated(TokenOut):
    """A token just created: the only time the secret is shown."""

    token: str


class Me(ResponseModel):
    """The caller's identity and permissions."""

    username: str
    roles: list[str]
    teams: list[int]
    permissions: list[str]


class SessionsEnded(ResponseModel):
    """A sign-out everywhere: every console session the user had open is refused from now on."""

    username: str
    ended_at: datetime
