"""The change policy in force for a service: its newest version, the default's, or the built-in."""

from __future__ import annotations

import functools

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from flywheel.batch_reads import remember, sharing
from flywheel.change.models import ChangePolicy
from flywheel.change.policy import Policy, parse_policy
from flywheel.change.policy import default_policy as builtin_policy

DEFAULT_SCOPE = "*"


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Policy:
    return parse_policy(text)


def active_policy(session: Session, *, service: str) -> tuple[Policy, str, int]:
    """The newest policy for the service, else the default one, else the built-in."""
    return remember(session, ("change.policy", service), lambda: _read_policy(session, service))


_NEWEST_POLICY = (
    select(ChangePolicy.scope, ChangePolicy.version, ChangePolicy.text)
    .where(ChangePolicy.scope.in_(bindparam("scopes", expanding=True)))
    .order_by((ChangePolicy.scope == DEFAULT_SCOPE).asc(), ChangePolicy.version.desc())
    .limit(1)
)


def _read_policy(session: Session, service: str) -> tuple[Policy, str, int]:
    row = session.execute(_NEWEST_POLICY, {"scopes": [service, DEFAULT_SCOPE]}).first()
    if row is not None:
        return _parsed(row.text), row.scope, row.version
    return builtin_policy(), "builtin", 0


_NEWEST_VERSIONS = (
    select(ChangePolicy.scope, func.max(ChangePolicy.version).label("version"))
    .where(ChangePolicy.scope.in_(bindparam("scopes", expanding=True)))
    .group_by(ChangePolicy.scope)
    .subquery()
)
_NEWEST_POLICIES = select(ChangePolicy.scope, ChangePolicy.version, ChangePolicy.text).join(
    _NEWEST_VERSIONS,
    (ChangePolicy.scope == _NEWEST_VERSIONS.c.scope)
    & (ChangePolicy.version == _NEWEST_VERSIONS.c.version),
)


def prefetch_policies(session: Session, services: set[str]) -> None:
    """In a batch, read the active policy of all its services with one query."""
    memo = sharing(session)
    if memo is None:
        return
    rows = session.execute(_NEWEST_POLICIES, {"scopes": sorted({*services, DEFAULT_SCOPE})})
    found = {r.scope: (_parsed(r.text), r.scope, r.version) for r in rows}
    fallback = found.get(DEFAULT_SCOPE, (builtin_policy(), "builtin", 0))
    for service in services:
        memo[("change.policy", service)] = found.get(service, fallback)
