"""Roles, permissions and which role grants what: the one place access is decided."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    """What a person does in the organisation."""

    DEVELOPER = "developer"
    OPERATOR = "operator"
    CHANGE_MANAGER = "change_manager"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    """Something an endpoint or command may require."""

    USER_READ = "user:read"
    USER_MANAGE = "user:manage"
    TEAM_READ = "team:read"
    TEAM_MANAGE = "team:manage"
    TOKEN_SELF = "token:self"
    TOKEN_MANAGE = "token:manage"
    AUDIT_READ = "audit:read"
    CMDB_READ = "cmdb:read"
    CMDB_WRITE = "cmdb:write"
    CMDB_TYPE_MANAGE = "cmdb_type:manage"
    CHANGE_READ = "change:read"
    CHANGE_CREATE = "change:create"
    CHANGE_APPROVE = "change:approve"
    CHANGE_IMPLEMENT = "change:implement"
    CHANGE_POLICY_MANAGE = "change_policy:manage"
    RELEASE_READ = "release:read"
    RELEASE_MANAGE = "release:manage"
    DEPLOY_READ = "deploy:read"
    DEPLOY_RUN = "deploy:run"
    DEPLOY_OVERRIDE = "deploy:override"
    INCIDENT_READ = "incident:read"
    INCIDENT_RESPOND = "incident:respond"
    ALERT_POST = "alert:post"
    INTEGRATION_READ = "integration:read"
    INTEGRATION_MANAGE = "integration:manage"
    ONCALL_MANAGE = "oncall:manage"
    PROBE_MANAGE = "probe:manage"
    ROLLBACK_POLICY_MANAGE = "rollback_policy:manage"
    SLO_READ = "slo:read"
    SLO_MANAGE = "slo:manage"
    DELIVERY_READ = "delivery:read"
    PROBLEM_READ = "problem:read"
    PROBLEM_MANAGE = "problem:manage"
    CREDENTIAL_READ = "credential:read"
    CREDENTIAL_MANAGE = "credential:manage"

    @property
    def is_read(self) -> bool:
        """Whether the permission only lets its holder look."""
        return self.value.endswith(":read")


_EVERYONE = {
    Permission.USER_READ,
    Permission.TEAM_READ,
    Permission.TOKEN_SELF,
    Permission.CMDB_READ,
    Permission.CHANGE_READ,
    Permission.RELEASE_READ,
    Permission.DEPLOY_READ,
    Permission.INCIDENT_READ,
    Permission.SLO_READ,
    Permission.DELIVERY_READ,
    Permission.PROBLEM_READ,
}
# Pipelines and engineers open and carry out changes; who may approve a given change is
# decided by its policy, so every working role may try.
_CHANGE_WORK = {
    Permission.CHANGE_CREATE,
    Permission.CHANGE_APPROVE,
    Permission.CHANGE_IMPLEMENT,
    Permission.RELEASE_MANAGE,
    Permission.DEPLOY_RUN,
}

# Whoever builds or runs a service answers its incidents (PagerDuty's "responder") and
# works the problems behind them.
_RESPONSE = {Permission.INCIDENT_RESPOND, Permission.PROBLEM_MANAGE}
# Monitoring that is not Alertmanager posts alerts with a developer's or operator's token
# (a team's own checks, a pipeline's smoke test); Alertmanager uses an integration token.
_ALERTING = {Permission.ALERT_POST}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.DEVELOPER: frozenset(_EVERYONE | _CHANGE_WORK | _RESPONSE | _ALERTING),
    # Operators keep the CMDB true to what runs, see how monitoring is wired in, and may
    # push a release past a gate, keep the on-call schedules, and set service levels.
    Role.OPERATOR: frozenset(
        _EVERYONE
        | _CHANGE_WORK
        | _RESPONSE
        | _ALERTING
        | {
            Permission.CMDB_WRITE,
            Permission.INTEGRATION_READ,
            Permission.DEPLOY_OVERRIDE,
            Permission.ONCALL_MANAGE,
            Permission.SLO_MANAGE,
            Permission.PROBE_MANAGE,
            Permission.ROLLBACK_POLICY_MANAGE,
            Permission.CREDENTIAL_READ,
            Permission.CREDENTIAL_MANAGE,
        }
    ),
    Role.CHANGE_MANAGER: frozenset(
        _EVERYONE
        | _CHANGE_WORK
        | _RESPONSE
        | {
            Permission.CHANGE_POLICY_MANAGE,
            Permission.DEPLOY_OVERRIDE,
            Permission.ROLLBACK_POLICY_MANAGE,
        }
    ),
    # Auditors see everything and change nothing but their own credentials.
    Role.AUDITOR: frozenset({p for p in Permission if p.is_read} | {Permission.TOKEN_SELF}),
    Role.ADMIN: frozenset(Permission),
}


def permissions_of(roles: Iterable[Role | str]) -> frozenset[Permission]:
    """Every permission the given roles grant together."""
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[Role(role)]
    return frozenset(granted)


def roles_granting(permission: Permission) -> frozenset[Role]:
    """The roles that grant a permission."""
    return frozenset(role for role, perms in ROLE_PERMISSIONS.items() if permission in perms)
