"""Authorization rules beyond roles: permission checks and separation of duties."""

from __future__ import annotations

from flywheel.auth.actor import Actor
from flywheel.auth.roles import Permission, roles_granting
from flywheel.errors import PermissionDenied


class SeparationOfDutiesViolation(PermissionDenied):
    """One person would both do and control the same thing."""

    code = "separation_of_duties"


def require_permission(actor: Actor, permission: Permission) -> None:
    """Raise PermissionDenied unless the actor holds the permission."""
    if not actor.can(permission):
        allowed = ", ".join(sorted(roles_granting(permission)))
        raise PermissionDenied(
            f"'{actor.name}' lacks permission '{permission}' (granted to: {allowed})"
        )


def require_different_person(actor: Actor, other_user_id: int | None, *, duty: str) -> None:
    """Separation of duties: the actor must not be the person they would control.

    Applies to every role, admin included; `duty` names the control,
    e.g. "approve a change" or "change their own roles".
    """
    if actor.user_id is not None and actor.user_id == other_user_id:
        raise SeparationOfDutiesViolation(
            f"separation of duties: '{actor.name}' may not {duty} for themselves"
        )
