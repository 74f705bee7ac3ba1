"""An incident arranged for its page: impact, responders, acknowledgements (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PRIORITIES = (1, 2, 3, 4)
STATES = ("open", "triggered", "acknowledged", "resolved")
_PRIORITY = re.compile(r"^[Pp]?([1-4])$")
# Timeline kinds that are a person (or the paging machinery) taking part in the response.
_RESPONSE_KINDS = ("acknowledged", "resolved", "reopened", "note", "rollback", "cause.confirmed")
_PAGING_PREFIXES = ("notif", "escalation.step", "page")  # a page sent, not "nobody to page"
_MACHINES = ("alerts", "system", "intake")


def parse_priority(text: str) -> int | None:
    """'P2', 'p2' or '2' → 2; '' → None; ValueError naming the choices otherwise."""
    if not text:
        return None
    found = _PRIORITY.match(text.strip())
    if found is None:
        raise ValueError(f"priority '{text}' must be P1, P2, P3 or P4")
    return int(found.group(1))


def check_state(text: str) -> str | None:
    """A state filter ('' → None); ValueError naming the choices otherwise."""
    if not text:
        return None
    if text not in STATES:
        raise ValueError(f"unknown state '{text}': choose one of {', '.join(STATES)}")
    return text


@dataclass(frozen=True)
class ServiceImpact:
    """A business service the incident takes down or degrades."""

    key: str
    status: str
    criticality: int | None


@dataclass(frozen=True)
class Impact:
    """What the incident does to the business, as stored when it was opened (or measured now)."""

    known: bool
    level: str | None
    summary: str
    services: list[ServiceImpact]
    tenants_affected: int | None
    top_tenants: list[str]
    measured_now: bool = False


def impact_of(stored: dict[str, Any] | None) -> Impact | None:
    """The impact stored on the incident by alert intake (None when nothing was stored)."""
    if not stored:
        return None
    services = [
        ServiceImpact(str(s.get("key")), str(s.get("status", "degraded")), s.get("criticality"))
        for s in stored.get("services") or []
    ]
    return Impact(
        known=bool(stored.get("known", bool(services))),
        level=stored.get("level"),
        summary=str(stored.get("summary") or ""),
        services=services,
        tenants_affected=stored.get("tenants_affected"),
        top_tenants=[str(t) for t in stored.get("top_tenants") or []],
    )


@dataclass(frozen=True)
class Responder:
    """Someone who took part in the response, and what they last did."""

    name: str
    first_at: datetime
    actions: list[str]


def _is_response(kind: str, actor: str) -> bool:
    if actor.split(":", 1)[0] in _MACHINES and not kind.startswith(_PAGING_PREFIXES):
        return False
    return kind in _RESPONSE_KINDS or kind.startswith(_PAGING_PREFIXES)


def responders(events: Iterable[Any]) -> list[Responder]:
    """People (and pages sent) on the timeline, in the order they joined the response."""
    found: dict[str, Responder] = {}
    for event in events:
        if not _is_response(event.kind, event.actor):
            continue
        who = (event.data or {}).get("user") or event.actor
        if who not in found:
            found[who] = Responder(who, event.at, [])
        action = event.kind.replace(".", " ")
        if action not in found[who].actions:
            found[who].actions.append(action)
    return list(found.values())


def acknowledgements(events: Iterable[Any]) -> list[Any]:
    """The timeline's acknowledgements, in order."""
    return [e for e in events if e.kind == "acknowledged"]


def actions_open(state: str, *, can_respond: bool) -> list[str]:
    """The state changes a responder may make now."""
    if not can_respond:
        return []
    if state == "triggered":
        return ["acknowledge", "resolve"]
    if state == "acknowledged":
        return ["resolve"]
    return ["reopen"]


def can_roll_back(deployment_state: str, *, permitted: bool) -> bool:
    """A suspect's rollback button: a finished good run, or one still in flight."""
    return permitted and deployment_state in ("succeeded", "pending", "running", "paused")
