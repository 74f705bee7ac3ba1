"""The deployment gate this domain answers: no open P1 incident on the service or its needs."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from flywheel.cmdb import service as cmdb_service
from flywheel.errors import NotFound
from flywheel.incident import service


def open_p1_gate(session: Session, key: str) -> dict[str, Any]:
    """Fail while a P1 incident is open on the service or anything it depends on."""
    keys = [key]
    with contextlib.suppress(NotFound):  # a service the CMDB does not know needs nothing
        keys += [d.key for d in cmdb_service.dependencies(session, key=key).dependencies]
    found = service.open_incidents_on(session, services=keys, max_priority=1)
    if found:
        names = ", ".join(f"{i.number} on {i.service}" for i in found[:3])
        return {"gate": "incidents", "status": "fail", "reason": f"open P1 incident: {names}"}
    return {
        "gate": "incidents",
        "status": "pass",
        "reason": f"no open P1 incident on {key} or what it depends on",
    }


def alerts_since(session: Session, key: str, since: datetime) -> str | None:
    """A problem to fail a baking batch on: an incident opened on the service since `since`."""
    found = [i for i in service.open_incidents_on(session, services=[key]) if i.opened_at >= since]
    if not found:
        return None
    first = found[0]
    return f"{first.number} ({first.title}) opened on {key} during the rollout"
