"""Per-request context that flows into the audit trail."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("flywheel_request_id", default=None)


def new_request_id() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request (or CLI command) being served, if any."""
    return request_id_var.get()
