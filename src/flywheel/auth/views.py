"""API routes of the auth domain: users, teams, tokens and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from flywheel.auth import service
from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission, Role
from flywheel.auth.schemas import (
    Me,
    SessionsEnded,
    TeamCreate,
    TeamOut,
    TeamUpdate,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from flywheel.db import utcnow
from flywheel.http.deps import CurrentActor, DbSession, cursor_to_id, require
from flywheel.schemas import Page

router = APIRouter(tags=["access"])

Limit = Annotated[int, Query(ge=1, le=500)]


def _token_out(token: object, secret: str | None = None) -> TokenOut:
    data = TokenOut.model_validate(token, from_attributes=True).model_dump()
    return TokenCreated(**data, token=secret) if secret else TokenOut(**data)


@router.get("/me", response_model=Me)
def read_me(actor: CurrentActor) -> Me:
    """Who the token belongs to and what it may do."""
    return Me(
        username=actor.name,
        roles=sorted(actor.roles),
        teams=sorted(actor.team_ids),
        permissions=sorted(actor.permissions),
    )


@router.post("/me/sessions/revoke-all", response_model=SessionsEnded)
def end_my_sessions(session: DbSession, actor: CurrentActor) -> SessionsEnded:
    """Sign out everywhere: end every console session you have open."""
    user = service.end_sessions(session, actor=actor)
    session.commit()
    return SessionsEnded(username=user.username, ended_at=utcnow())


@router.post("/users/{username}/sessions/revoke-all", response_model=SessionsEnded)
def end_user_sessions(
    username: str,
    session: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.USER_MANAGE))],
) -> SessionsEnded:
    """End every console session of a user (administrators)."""
    user = service.end_sessions(session, actor=actor, username=username)
    session.commit()
    return SessionsEnded(username=user.username, ended_at=utcnow())


@router.get("/users", response_model=Page[UserOut])
def list_users(
    session: DbSession,
    _: Annotated[Actor, Depends(require(Permission.USER_READ))],
    role: Role | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[UserOut]:
    """Users, oldest first."""
    users = service.list_users(session, after_id=cursor_to_id(cursor), limit=limit, role=role)
    next_cursor = str(users[-1].id) if len(users) == limit else None
    return Page(items=[UserOut.model_validate(u) for u in users], next_cursor=next_cursor)


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(
    data: UserCreate,
    session: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.USER_MANAGE))],
) -> UserOut:
    """Create a user."""
    user = service.create_user(session, actor=actor, data=data)
    session.commit()
    return UserOut.model_validate(user)


@router.get("/users/{username}", response_model=UserOut)
def read_user(
    username: str,
    session: DbSession,
    _: Annotated[Actor, Depends(require(Permission.USER_READ))],
) -> UserOut:
    """One user."""
    return UserOut.model_validate(service.get_user(session, username=username))


@router.patch("/users/{username}", response_model=UserOut)
def update_user(
    username: str,
    data: UserUpdate,
    session: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.USER_MANAGE))],
) -> UserOut:
    """Change a user's details, roles or status (send the version you read)."""
    user = service.update_user(session, actor=actor, username=username, data=data)
    session.commit()
    return UserOut.model_validate(user)


@router.get("/teams", response_model=Page[TeamOut])
def list_teams(
    session: DbSession,
    _: Annotated[Actor, Depends(require(Permission.TEAM_READ))],
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[TeamOut]:
    """Teams, oldest first."""
    teams = service.list_teams(session, after_id=cursor_to_id(cursor), limit=limit)
    next_cursor = str(teams[-1].id) if len(teams) == limit else None
    return Page(items=[TeamOut.model_validate(t) for t in teams], next_cursor=next_cursor)


@router.post("/teams", response_model=TeamOut, status_code=status.HTTP_201_CREATED)
def create_team(
    data: TeamCreate,
    session: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.TEAM_MANAGE))],
) -> TeamOut:
    """Create a team."""
    team = service.create_team(session, actor=actor, data=data)
    session.commit()
    return TeamOut.model_validate(team)


@router.get("/teams/{key}", response_model=TeamOut)
def read_team(
    key: str,
    session: DbSession,
    _: Annotated[Actor, Depends(require(Permission.TEAM_READ))],
) -> TeamOut:
    """One team."""
    return TeamOut.model_validate(service.get_team(session, key=key))


@router.patch("/teams/{key}", response_model=TeamOut)
def update_team(
    key: str,
    data: TeamUpdate,
    session: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.TEAM_MANAGE))],
) -> TeamOut:
    """Change a team (send the version you read)."""
    team = service.update_team(session, actor=actor, key=key, data=data)
    session.commit()
    return TeamOut.model_validate(team)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(
    session: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.TOKEN_SELF))],
    username: str | None = None,
) -> list[TokenOut]:
    """Your tokens, or another user's if you may manage tokens."""
    tokens = service.list_tokens(session, actor=actor, username=username)
    return [_token_out(t) for t in tokens]


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(
    data: TokenCreate,
    session: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.TOKEN_SELF))],
) -> TokenOut:
    """Create a token; the secret is in this response only."""
    token, secret = service.create_token(
        session, actor=actor, name=data.name, username=data.username, expires_at=data.expires_at
    )
    session.commit()
    return _token_out(token, secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(
    token_id: int,
    session: DbSession,
    actor: Annotated[Actor, Depends(require(Permission.TOKEN_SELF))],
) -> TokenOut:
    """Revoke a token at once; repeating the call is harmless."""
    token = service.revoke_token(session, actor=actor, token_id=token_id)
    session.commit()
    return _token_out(token)
