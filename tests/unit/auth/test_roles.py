"""Roles, permissions and separation of duties, without a database."""

from __future__ import annotations

import pytest

from flywheel.auth.actor import Actor, system_actor
from flywheel.auth.policy import (
    SeparationOfDutiesViolation,
    require_different_person,
    require_permission,
)
from flywheel.auth.roles import ROLE_PERMISSIONS, Permission, Role, permissions_of, roles_granting
from flywheel.errors import PermissionDenied


def actor(*roles: Role, user_id: int = 1) -> Actor:
    return Actor(name=f"u{user_id}", user_id=user_id, roles=frozenset(roles))


def test_every_role_has_a_permission_set() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)


def test_admin_holds_every_permission() -> None:
    assert permissions_of([Role.ADMIN]) == frozenset(Permission)


def test_auditor_reads_everything_and_manages_nothing() -> None:
    granted = permissions_of([Role.AUDITOR])
    assert {p for p in Permission if p.is_read} <= granted
    assert not any(p.value.endswith(":manage") for p in granted)


def test_audit_log_is_for_auditors_and_admins_only() -> None:
    assert roles_granting(Permission.AUDIT_READ) == {Role.AUDITOR, Role.ADMIN}


def test_roles_combine() -> None:
    assert permissions_of([Role.DEVELOPER, Role.AUDITOR]) == permissions_of(
        [Role.AUDITOR]
    ) | permissions_of([Role.DEVELOPER])


def test_unknown_role_is_rejected() -> None:
    with pytest.raises(ValueError, match="wizard"):
        permissions_of(["wizard"])


def test_require_permission_names_what_is_missing() -> None:
    with pytest.raises(PermissionDenied, match="user:manage"):
        require_permission(actor(Role.DEVELOPER), Permission.USER_MANAGE)
    require_permission(actor(Role.ADMIN), Permission.USER_MANAGE)


def test_nobody_controls_themselves_not_even_an_admin() -> None:
    admin = actor(Role.ADMIN, user_id=5)
    with pytest.raises(SeparationOfDutiesViolation, match="approve a change"):
        require_different_person(admin, 5, duty="approve a change")
    require_different_person(admin, 6, duty="approve a change")


def test_system_actor_is_not_a_person() -> None:
    system = system_actor("cli")
    assert system.is_system
    require_different_person(system, None, duty="approve a change")


def test_incident_permissions_follow_who_builds_and_runs() -> None:
    assert roles_granting(Permission.INCIDENT_READ) == frozenset(Role)
    assert roles_granting(Permission.INCIDENT_RESPOND) == frozenset(Role) - {Role.AUDITOR}
    assert roles_granting(Permission.ALERT_POST) == {Role.DEVELOPER, Role.OPERATOR, Role.ADMIN}
    assert roles_granting(Permission.INTEGRATION_MANAGE) == {Role.ADMIN}
    assert roles_granting(Permission.INTEGRATION_READ) == {Role.OPERATOR, Role.AUDITOR, Role.ADMIN}
