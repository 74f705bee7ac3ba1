"""Users signed in by single sign-on: created on first sign-in, roles kept as the groups say."""

from __future__ import annotations

from sqlalchemy.orm import Session

from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor, system_actor
from flywheel.auth.models import User
from flywheel.auth.schemas import TeamUpdate, UserCreate, UserUpdate
from flywheel.auth.sso import SsoIdentity
from flywheel.errors import NotFound, PermissionDenied

SSO_ACTOR = system_actor("sso")


def provision(session: Session, identity: SsoIdentity) -> Actor:
    """The signed-in person's actor, after creating or updating them from the identity."""
    if not identity.roles:
        raise PermissionDenied(
            f"{identity.username} signed in, but none of their groups grants a Flywheel role: "
            "ask an administrator to map one (FLYWHEEL_OIDC_ROLE_MAP)"
        )
    try:
        user = auth_service.get_user(session, username=identity.username)
    except NotFound:
        user = _create(session, identity)
    else:
        user = _update(session, user, identity)
    _join_teams(session, user.username, identity.teams)
    return auth_service.actor_for(user)


def _create(session: Session, identity: SsoIdentity) -> User:
    data = UserCreate(
        username=identity.username,
        full_name=identity.full_name,
        email=identity.email,
        roles=identity.roles,
    )
    return auth_service.create_user(session, actor=SSO_ACTOR, data=data)


def _update(session: Session, user: User, identity: SsoIdentity) -> User:
    if not user.is_active:
        raise PermissionDenied(f"{user.username}'s Flywheel account is deactivated")
    data = UserUpdate(
        version=user.version,
        roles=identity.roles,
        full_name=identity.full_name or None,
        email=identity.email,
    )
    return auth_service.update_user(session, actor=SSO_ACTOR, username=user.username, data=data)


def _join_teams(session: Session, username: str, teams: list[str]) -> None:
    for key in teams:
        try:
            team = auth_service.get_team(session, key=key)
        except NotFound:
            continue  # a mapped team not created yet: the role still applies
        members = auth_service.member_usernames(session, team_id=team.id)
        if username in members:
            continue
        update = TeamUpdate(version=team.version, members=[*members, username])
        auth_service.update_team(session, actor=SSO_ACTOR, key=key, data=update)
