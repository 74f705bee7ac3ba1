"""Problems in the seeded history: recurring outages become suggestions; one is analysed.

Runs after the history is recorded, through the problem domain's own service functions:
the suggestion run finds the recurring failures, the largest is accepted as a problem by a
responder, who records its root-cause analysis and a known error with its workaround. The
others stay suggested, waiting for a decision on the console's Problems page. Live, the
responder looks for recurrences again after each incident it confirms (a PROBLEM_HOOKS entry).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session

from flywheel.auth.actor import Actor
from flywheel.db import Database, backdated
from flywheel.problem import known_error_service, suggestion_service
from flywheel.problem import service as problem_service
from flywheel.problem.models import Problem
from flywheel.problem.schemas import KnownErrorCreate, RcaIn
from flywheel.problem.suggest import Rules

log = logging.getLogger("flywheel.demo")

# What the responder found about the most frequent failure (cart-db's pool, see RECURRING).
ANALYSIS = {
    "five_whys": [
        "cart answered 5xx because it could not get a database connection",
        "the cart-db connection pool was exhausted",
        "connections leaked when a request timed out while holding one",
        "the timeout path returned early without releasing the connection",
        "the cart release of last quarter added that path without a test for it",
    ],
    "contributing_factors": [
        "the pool size alert fired only at 100 % use",
        "no connection-age limit on the pool",
    ],
    "root_cause": "cart's request-timeout path leaks database connections until the pool is empty",
    "category": "software",
}
WORKAROUND = (
    "Recycle the cart instances one at a time (a rolling restart frees the leaked "
    "connections within a minute); the pool refills and 5xx stop."
)


@dataclass(frozen=True)
class Seeded:
    """What the problem seeding left: suggestions made and the problem analysed."""

    suggestions: int
    problem: str | None


def seed_problems(db: Database, *, actor: Actor, end: datetime) -> Seeded:
    """Suggest problems from recurring incidents; accept and analyse the largest."""
    with db.session(write=True) as session:
        with backdated(end - timedelta(hours=30)):
            made = suggestion_service.run(session, actor=actor, rules=Rules(by_ci=False))
        if not made:
            session.commit()
            return Seeded(0, None)
        largest = max(made, key=lambda s: len(s.incident_ids))
        with backdated(end - timedelta(hours=28)):
            problem = suggestion_service.accept(
                session, actor=actor, suggestion_id=largest.id, title=_title(largest.value)
            )
        with backdated(end - timedelta(hours=20)):
            _analyse(session, problem, actor=actor)
        session.commit()
        return Seeded(len(made), problem.number)


def _title(signature: str) -> str:
    """A readable title for a recurring alert's signature ('alert:cart:databaseconn…')."""
    _, _, rest = signature.partition(":")
    service, _, alert = rest.partition(":")
    return f"{service or signature} keeps failing: {alert or 'the same way'} again and again"


def _analyse(session: Session, problem: Problem, *, actor: Actor) -> None:
    data = RcaIn.model_validate({"version": problem.version, **ANALYSIS})
    problem_service.record_rca(session, actor=actor, problem_id=problem.id, data=data)
    known = KnownErrorCreate(
        problem=problem.number,
        title=f"{problem.service}: database connection pool exhausted",
        workaround=WORKAROUND,
        service=problem.service,
        signature=problem.signature,
    )
    known_error_service.create(session, actor=actor, data=known)


def suggest_after_incident(client: httpx.Client, incident_id: int) -> None:
    """Live: once an incident's cause is confirmed, look for recurring incidents again."""
    answer = client.post("/problems/suggestions", json={"period_days": 14, "min_incidents": 3})
    if answer.status_code == 201 and answer.json():
        values = ", ".join(s["value"] for s in answer.json())
        log.info("demo: INC%07d recurs; problem suggested: %s", incident_id, values)
