"""Users, teams and API tokens: the auth domain's work on a session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.auth.bearer import authenticate_token as authenticate_token
from flywheel.auth.bearer import authenticate_tokens as authenticate_tokens
from flywheel.auth.bearer import cached_token_actor as cached_token_actor
from flywheel.auth.models import ApiToken, Team, TeamMember, User, UserRole
from flywheel.auth.passwords import hash_password, password_matches
from flywheel.auth.policy import require_different_person, require_permission
from flywheel.auth.roles import Permission, Role
from flywheel.auth.schemas import TeamCreate, TeamUpdate, UserCreate, UserUpdate
from flywheel.auth.sessions import end_all_sessions as _end_sessions
from flywheel.auth.sessions import session_generation as session_generation
from flywheel.auth.tokens import generate_token, hash_token, token_hint
from flywheel.db import utcnow
from flywheel.errors import Conflict, InvalidInput, NotFound, StaleVersion, Unauthenticated


def _user_summary(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "email": user.email,
        "roles": user.role_names,
        "is_active": user.is_active,
    }


def _check_version(kind: str, key: str, current: int, given: int) -> None:
    if current != given:
        raise StaleVersion(
            f"{kind} '{key}' is at version {current}, not {given}: reload and retry",
            details={"current_version": current},
        )


def get_user(session: Session, *, username: str) -> User:
    """The user with this username, or NotFound."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user '{username}'")
    return user


def list_users(
    session: Session, *, after_id: int = 0, limit: int = 50, role: Role | None = None
) -> list[User]:
    """Users ordered by id, optionally only those holding a role."""
    query = select(User).where(User.id > after_id)
    if role is not None:
        query = query.where(User.roles.any(UserRole.role == role.value))
    return list(session.scalars(query.order_by(User.id).limit(limit)))


def create_user(session: Session, *, actor: Actor, data: UserCreate) -> User:
    """Create a user with roles; the username must be new."""
    if session.scalar(select(User.id).where(User.username == data.username)) is not None:
        raise Conflict(f"user '{data.username}' already exists")
    user = User(
        username=data.username,
        full_name=data.full_name,
        email=data.email,
        password_hash=hash_password(data.password) if data.password else None,
        roles=[UserRole(role=r.value) for r in sorted(set(data.roles))],
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.username,
        after=_user_summary(user),
    )
    return user


def update_user(session: Session, *, actor: Actor, username: str, data: UserUpdate) -> User:
    """Update a user's details, roles or status."""
    user = get_user(session, username=username)
    _check_version("user", username, user.version, data.version)
    before = _user_summary(user)
    deactivated = False
    if data.roles is not None and set(data.roles) != set(user.role_names):
        require_different_person(actor, user.id, duty="change their own roles")
        user.roles = [UserRole(role=r.value) for r in sorted(set(data.roles))]
    if data.is_active is False and user.is_active:
        require_different_person(actor, user.id, duty="deactivate their own account")
        user.is_active = False
        deactivated = True
    elif data.is_active:
        user.is_active = True
    for field in ("full_name", "email"):
        value = getattr(data, field)
        if value is not None:
            setattr(user, field, value)
    after = _user_summary(user)
    if after == before:
        return user
    user.updated_at = utcnow()
    session.flush()
    if (after["roles"], after["is_active"]) != (before["roles"], before["is_active"]):
        _ensure_an_admin_remains(session)
    audit.record(
        session,
        actor=actor,
        action="user.update",
        object_type="user",
        object_id=username,
        before=before,
        after=after,
    )
    if deactivated:
        _end_sessions(session, actor=actor, user=user, reason="deactivated")
    return user


def _ensure_an_admin_remains(session: Session) -> None:
    admins = session.scalar(
        select(func.count(User.id)).where(
            User.is_active.is_(True), User.roles.any(UserRole.role == Role.ADMIN.value)
        )
    )
    if not admins:
        raise Conflict("this would leave no active admin")


def set_password(session: Session, *, actor: Actor, username: str, password: str) -> None:
    """Set a user's password (stored as an argon2 hash)."""
    if len(password) < 12:
        raise InvalidInput("a password needs at least 12 characters")
    user = get_user(session, username=username)
    user.password_hash = hash_password(password)
    user.updated_at = utcnow()
    audit.record(
        session, actor=actor, action="user.set_password", object_type="user", object_id=username
    )
    _end_sessions(session, actor=actor, user=user, reason="password_changed")


def end_sessions(session: Session, *, actor: Actor, username: str | None = None) -> User:
    """Sign a user out everywhere (yourself, or anyone if you may manage users); audited."""
    user = get_user(session, username=username or actor.name)
    if user.id != actor.user_id:
        require_permission(actor, Permission.USER_MANAGE)
    _end_sessions(session, actor=actor, user=user, reason="requested")
    return user


def check_password(session: Session, *, username: str, password: str) -> User:
    """The active user whose password this is, or Unauthenticated."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active or not password_matches(user.password_hash, password):
        raise Unauthenticated("wrong username or password")
    return user


def _team_summary(team: Team, members: list[str]) -> dict[str, Any]:
    return {
        "key": team.key,
        "name": team.name,
        "description": team.description,
        "members": members,
    }


_MEMBER_NAMES = (
    select(User.username)
    .join(TeamMember, TeamMember.user_id == User.id)
    .where(TeamMember.team_id == bindparam("team_id"))
    .order_by(User.username)
)
_TEAM_BY_KEY = select(Team).where(Team.key == bindparam("key"))


def member_usernames(session: Session, *, team_id: int) -> list[str]:
    """Usernames of a team's members, sorted."""
    return list(session.scalars(_MEMBER_NAMES, {"team_id": team_id}))


def get_team(session: Session, *, key: str) -> Team:
    """The team with this key, or NotFound."""
    team = session.scalar(_TEAM_BY_KEY, {"key": key})
    if team is None:
        raise NotFound(f"no team '{key}'")
    return team


def list_teams(session: Session, *, after_id: int = 0, limit: int = 50) -> list[Team]:
    """Teams ordered by id."""
    query = select(Team).where(Team.id > after_id).order_by(Team.id).limit(limit)
    return list(session.scalars(query))


def _members(session: Session, usernames: list[str]) -> list[TeamMember]:
    wanted = sorted(set(usernames))
    with session.no_autoflush:
        found = session.scalars(select(User).where(User.username.in_(wanted)))
        users = {u.username: u for u in found}
    missing = [name for name in wanted if name not in users]
    if missing:
        raise InvalidInput(f"unknown users: {', '.join(missing)}", details={"unknown": missing})
    return [TeamMember(user=users[name]) for name in wanted]


def create_team(session: Session, *, actor: Actor, data: TeamCreate) -> Team:
    """Create a team; the key must be new."""
    if session.scalar(select(Team.id).where(Team.key == data.key)) is not None:
        raise Conflict(f"team '{data.key}' already exists")
    team = Team(key=data.key, name=data.name, description=data.description)
    team.members = _members(session, data.members)
    session.add(team)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="team.create",
        object_type="team",
        object_id=team.key,
        after=_team_summary(team, sorted(set(data.members))),
    )
    return team


def update_team(session: Session, *, actor: Actor, key: str, data: TeamUpdate) -> Team:
    """Update a team's name, description or members; the audit event keeps what changed."""
    team = get_team(session, key=key)
    _check_version("team", key, team.version, data.version)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for field in ("name", "description"):
        value = getattr(data, field)
        if value is not None and value != getattr(team, field):
            before[field], after[field] = getattr(team, field), value
            setattr(team, field, value)
    if data.members is not None:
        members = member_usernames(session, team_id=team.id)
        if sorted(set(data.members)) != members:
            team.members = _members(session, data.members)
            before["members"], after["members"] = members, sorted(set(data.members))
    if after:
        team.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="team.update",
            object_type="team",
            object_id=key,
            before=before,
            after=after,
        )
    return team


def _token_summary(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "user": token.user.username,
        "hint": token.hint,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
    }


def create_token(
    session: Session,
    *,
    actor: Actor,
    name: str,
    username: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token; returns it with its secret, which is never stored."""
    owner = get_user(session, username=username or actor.name)
    if owner.id != actor.user_id:
        require_permission(actor, Permission.TOKEN_MANAGE)
    if not owner.is_active:
        raise Conflict(f"user '{owner.username}' is deactivated")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expires_at must be in the future")
    secret = generate_token()
    token = ApiToken(
        user=owner,
        name=name,
        token_hash=hash_token(secret),
        hint=token_hint(secret),
        expires_at=expires_at,
        created_by=actor.name,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="token.create",
        object_type="api_token",
        object_id=token.id,
        after=_token_summary(token),
    )
    return token, secret


def list_tokens(session: Session, *, actor: Actor, username: str | None = None) -> list[ApiToken]:
    """Tokens of a user (yourself unless you may manage tokens), newest first."""
    owner = get_user(session, username=username or actor.name)
    if owner.id != actor.user_id:
        require_permission(actor, Permission.TOKEN_MANAGE)
    query = select(ApiToken).where(ApiToken.user_id == owner.id).order_by(ApiToken.id.desc())
    return list(session.scalars(query))


def revoke_token(session: Session, *, actor: Actor, token_id: int) -> ApiToken:
    """Revoke a token; revoking a revoked token changes nothing."""
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.user_id and not actor.can(Permission.TOKEN_MANAGE)):
        raise NotFound(f"no token {token_id}")
    if token.revoked_at is None:
        before = _token_summary(token)
        token.revoked_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="token.revoke",
            object_type="api_token",
            object_id=token.id,
            before=before,
            after=_token_summary(token),
        )
    return token


def actor_for(user: User, *, token_id: int | None = None) -> Actor:
    """The Actor a user acts as."""
    return Actor(
        name=user.username,
        user_id=user.id,
        roles=frozenset(Role(r) for r in user.role_names),
        team_ids=frozenset(m.team_id for m in user.memberships),
        token_id=token_id,
    )


def actor_by_id(
    session: Session, *, user_id: int, token_id: int | None = None, generation: int | None = None
) -> Actor:
    """The actor of a signed-in user (and the token they signed in with), or Unauthenticated.

    For sessions that outlive the credential check: a deactivated user, a revoked or
    expired token, or a sign-out everywhere since (`generation` is the session's) ends them.
    """
    if generation is not None and session_generation(session, user_id=user_id) != generation:
        raise Unauthenticated("you were signed out everywhere: sign in again")
    if token_id is not None:
        token = session.get(ApiToken, token_id)
        if token is None or token.user_id != user_id:
            raise Unauthenticated("unknown API token")
        return _token_actor(token)
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("this user no longer exists or is deactivated")
    return actor_for(user)


def _token_actor(token: ApiToken) -> Actor:
    if token.revoked_at is not None:
        raise Unauthenticated("this API token was revoked")
    if token.expires_at is not None and token.expires_at <= utcnow():
        raise Unauthenticated("this API token has expired")
    if not token.user.is_active:
        raise Unauthenticated(f"user '{token.user.username}' is deactivated")
    return actor_for(token.user, token_id=token.id)
