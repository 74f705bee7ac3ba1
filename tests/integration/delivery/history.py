"""A generated delivery history, written to the database and kept in memory for checking."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tests.factories import record_change, record_deployment

H = timedelta(hours=1)


@dataclass
class Run:
    """A deployment as generated."""

    id: int
    service: str
    environment: str
    state: str
    change_id: int | None
    started: datetime
    finished: datetime
    rollback_of: int | None = None


@dataclass
class History:
    """Everything generated: changes' commits and close codes, runs, linked incidents."""

    commits: dict[int, list[datetime | None]] = field(default_factory=dict)
    close_codes: dict[int, str | None] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    incidents: dict[int, datetime | None] = field(default_factory=dict)


def _run(session: Session, history: History, **fields: object) -> Run:
    made = record_deployment(session, **fields)  # type: ignore[arg-type]
    run = Run(
        made.id,
        made.service,
        made.environment,
        made.state,
        made.change_id,
        made.started_at or made.created_at,
        made.finished_at or made.created_at,
        made.rollback_of,
    )
    history.runs.append(run)
    return run


def _change(
    session: Session,
    history: History,
    rng: random.Random,
    service: str,
    at: datetime,
    code: str | None,
) -> int:
    commits: list[datetime | None] = [
        at - timedelta(hours=rng.uniform(0.5, 200)) for _ in range(rng.randint(1, 4))
    ]
    if rng.random() < 0.1:
        commits.append(None)  # a commit that does not say when it was authored
    if rng.random() < 0.1:
        commits.append(at + timedelta(days=3))  # authored "after" the deployment: skewed clock
    change = record_change(
        session, service=service, created_at=at - H, commits=commits, close_code=code
    )
    history.commits[change.id] = commits
    history.close_codes[change.id] = code
    return change.id


def generate(
    session: Session, *, services: list[str], since: datetime, until: datetime, seed: int = 9
) -> History:
    """About 30 changes per service across the period and a little before it."""
    rng = random.Random(seed)
    history = History()
    span = (until - since).total_seconds()
    for service in services:
        for _ in range(30):
            at = since + timedelta(seconds=rng.uniform(-0.15 * span, 0.97 * span))
            _scenario(session, history, rng, service, at, rng.random())
    session.flush()
    return history


def _scenario(
    session: Session, history: History, rng: random.Random, service: str, at: datetime, roll: float
) -> None:
    took = timedelta(minutes=rng.uniform(2, 40))
    common = {"service": service, "started_at": at, "finished_at": at + took}
    if roll < 0.45:
        change = _change(session, history, rng, service, at, "successful")
        _run(session, history, change_id=change, **common)
    elif roll < 0.55:  # rolled back by its own bake, then fixed and redeployed later
        change = _change(session, history, rng, service, at, "rolled_back")
        _run(session, history, change_id=change, state="rolled_back", **common)
        later = at + timedelta(hours=rng.uniform(1, 30))
        _run(
            session,
            history,
            change_id=change,
            service=service,
            started_at=later,
            finished_at=later + took,
        )
    elif roll < 0.62:  # succeeded, then rolled back by a rollback run
        change = _change(session, history, rng, service, at, "successful")
        first = _run(session, history, change_id=change, **common)
        back = first.finished + timedelta(minutes=rng.uniform(5, 120))
        state = "succeeded" if rng.random() < 0.8 else "failed"
        _run(
            session,
            history,
            change_id=change,
            rollback_of=first.id,
            state=state,
            service=service,
            started_at=back,
            finished_at=back + took,
        )
    elif roll < 0.70:  # succeeded, but an incident is linked to it
        change = _change(session, history, rng, service, at, "successful")
        run = _run(session, history, change_id=change, **common)
        recovered = (
            run.finished + timedelta(hours=rng.uniform(0.2, 9)) if rng.random() < 0.8 else None
        )
        history.incidents[run.id] = recovered
    elif roll < 0.75:  # the change was closed as failed by hand after its only deployment
        change = _change(session, history, rng, service, at, "failed")
        _run(session, history, change_id=change, **common)
    elif roll < 0.79:
        change = _change(session, history, rng, service, at, "failed")
        _run(session, history, change_id=change, state="failed", **common)
    elif roll < 0.83:
        change = _change(session, history, rng, service, at, "rolled_back")
        _run(session, history, change_id=change, state="aborted", **common)
    elif roll < 0.90:  # staging only: not a production deployment
        change = _change(session, history, rng, service, at, None)
        _run(session, history, change_id=change, environment="staging", **common)
    elif roll < 0.95:  # deployed twice: the second success must not count its commits again
        change = _change(session, history, rng, service, at, "successful")
        _run(session, history, change_id=change, **common)
        again = at + timedelta(hours=rng.uniform(1, 48))
        _run(
            session,
            history,
            change_id=change,
            service=service,
            started_at=again,
            finished_at=again + took,
        )
    else:  # a deployment without a change
        _run(session, history, change_id=None, **common)
