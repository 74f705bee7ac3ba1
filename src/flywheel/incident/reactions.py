"""What other parts of Flywheel do when a batch of alerts opens, changes or resolves incidents.

Domains register a reaction when the app starts (escalation and notifications, known-error
matching, automatic rollback). Reactions run inside the intake transaction, after the batch is
written, so they must be cheap: record what to do (an outbox row, a durable workflow start) and
let workers do the slow part after commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from flywheel.auth.actor import Actor

if TYPE_CHECKING:
    from flywheel.incident.intake import IntakeResult

IncidentReaction = Callable[[Session, "IntakeResult", Actor, datetime], None]

_REACTIONS: dict[str, IncidentReaction] = {}


def register(name: str, reaction: IncidentReaction) -> None:
    """Run `reaction` after every intake batch (replaces one registered under the same name)."""
    _REACTIONS[name] = reaction


def unregister(name: str) -> None:
    """Stop running the reaction registered under this name (no error when there is none)."""
    _REACTIONS.pop(name, None)


def registered() -> list[str]:
    """Names of the registered reactions, in the order they run."""
    return list(_REACTIONS)


def react(session: Session, result: IntakeResult, actor: Actor, now: datetime) -> None:
    """Run every registered reaction on what a batch did."""
    if not (
        result.incidents_opened
        or result.incidents_updated
        or result.incidents_reopened
        or result.incidents_resolved
    ):
        return
    for reaction in list(_REACTIONS.values()):
        reaction(session, result, actor, now)
