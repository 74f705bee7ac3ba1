"""Single sign-on: which Flywheel roles and teams a person's identity-provider groups grant."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flywheel.auth.roles import Role
from flywheel.errors import InvalidInput

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class SsoIdentity:
    """Who the identity provider says signed in, and what that grants here."""

    username: str
    full_name: str
    email: str | None
    roles: list[Role]
    teams: list[str]


def groups_in(claims: Mapping[str, Any], claim: str) -> list[str]:
    """The groups a token's claims carry (a list, or one space/comma separated string)."""
    raw = claims.get(claim)
    if isinstance(raw, str):
        return [g for g in re.split(r"[,\s]+", raw) if g]
    if isinstance(raw, list):
        return [str(g) for g in raw]
    return []


def username_from(claims: Mapping[str, Any]) -> str:
    """A Flywheel username from the claims: preferred_username, else the e-mail's local part."""
    raw = str(claims.get("preferred_username") or "")
    if not raw and claims.get("email"):
        raw = str(claims["email"]).split("@", 1)[0]
    name = raw.strip().lower()
    if not _SLUG.match(name):
        raise InvalidInput(
            f"the identity provider's username {raw!r} is not a valid Flywheel username "
            "(lowercase letters, digits, '.', '_' and '-')"
        )
    return name


def identity_from(
    claims: Mapping[str, Any],
    *,
    groups_claim: str,
    role_map: Mapping[str, Sequence[str]],
    team_map: Mapping[str, Sequence[str]],
) -> SsoIdentity:
    """The identity and grants for validated ID-token claims."""
    groups = groups_in(claims, groups_claim)
    roles = sorted({Role(r) for g in groups for r in role_map.get(g, ())}, key=lambda r: r.value)
    teams = sorted({t for g in groups for t in team_map.get(g, ())})
    email = claims.get("email")
    return SsoIdentity(
        username=username_from(claims),
        full_name=str(claims.get("name") or "")[:200],
        email=str(email) if email and claims.get("email_verified", True) else None,
        roles=roles,
        teams=teams,
    )


def check_role_map(role_map: Mapping[str, Sequence[str]]) -> None:
    """InvalidInput naming a mapped role that does not exist."""
    known = {r.value for r in Role}
    for group, roles in role_map.items():
        unknown = sorted(set(roles) - known)
        if unknown:
            raise InvalidInput(
                f"FLYWHEEL_OIDC_ROLE_MAP maps group {group!r} to unknown role(s) "
                f"{', '.join(unknown)}; roles are {', '.join(sorted(known))}"
            )
