"""Domain errors that map to clear HTTP answers and CLI messages."""

from __future__ import annotations

from typing import Any


class FlywheelError(Exception):
    """Base of the errors a user can cause and be told about."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(FlywheelError):
    """The request is well-formed but its content is not acceptable."""

    status_code = 422
    code = "invalid_input"


class Unauthenticated(FlywheelError):
    """No valid credentials."""

    status_code = 401
    code = "unauthenticated"


class PermissionDenied(FlywheelError):
    """Authenticated, but not allowed."""

    status_code = 403
    code = "forbidden"


class NotFound(FlywheelError):
    """The object does not exist."""

    status_code = 404
    code = "not_found"


class Conflict(FlywheelError):
    """The request conflicts with the current state (duplicate, stale version, illegal move)."""

    status_code = 409
    code = "conflict"


class StaleVersion(Conflict):
    """Someone else updated the object first."""

    code = "stale_version"
