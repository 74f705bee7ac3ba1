"""Who is acting: a signed-in user or the system itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from flywheel.auth.roles import Permission, Role, permissions_of


@dataclass(frozen=True)
class Actor:
    """The principal behind a request or command."""

    name: str
    user_id: int | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)
    team_ids: frozenset[int] = field(default_factory=frozenset)
    token_id: int | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        """What this actor may do."""
        return permissions_of(self.roles)

    def can(self, permission: Permission) -> bool:
        """Whether the actor holds a permission."""
        return permission in self.permissions

    @property
    def is_system(self) -> bool:
        """Whether this is Flywheel itself (CLI on the server, scheduled work)."""
        return self.user_id is None


def system_actor(name: str = "system") -> Actor:
    """The actor for work done by Flywheel itself or its operator on the server."""
    return Actor(name=f"system:{name}", roles=frozenset({Role.ADMIN}))
