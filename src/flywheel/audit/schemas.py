"""Response models of the audit domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flywheel.schemas import ResponseModel


class AuditEventOut(ResponseModel):
    """One audit event with its chain links."""

    seq: int
    occurred_at: datetime
    actor: str
    actor_user_id: int | None
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    request_id: str | None
    prev_hash: str
    hash: str


class ChainStatus(ResponseModel):
    """The result of verifying the audit chain."""

    intact: bool
    events_checked: int
    head_seq: int
    first_bad_seq: int | None
    problem: str | None
