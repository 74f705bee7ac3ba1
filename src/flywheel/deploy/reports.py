"""Read-only, set-based queries over deployment runs for service levels and delivery metrics.

Other domains reach them through `flywheel.deploy.service`, which re-exports them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, func, select
from sqlalchemy.orm import Session, aliased

from flywheel.change import service as change_service
from flywheel.deploy.models import Deployment, DeploymentStep
from flywheel.sql_time import epoch
from flywheel.workers.queues import QueueStat, due_stat


def _traffic(detail: dict[str, Any]) -> tuple[int, int]:
    evidence = (detail or {}).get("evidence") or {}
    requests = errors = 0
    for side in ("new", "old"):
        seen = evidence.get(side) or {}
        requests += int(seen.get("requests") or 0)
        errors += int(seen.get("errors") or 0)
    return requests, min(errors, requests)


def bake_traffic(
    session: Session, *, service: str, environment: str, start: datetime, end: datetime
) -> list[tuple[datetime, int, int]]:
    """What the load balancer counted during the bakes of a service's runs in [start, end).

    One (bake finished at, requests, errors) per bake that recorded traffic, passed or
    failed; new and old instances together.
    """
    query = (
        select(DeploymentStep.finished_at, DeploymentStep.detail)
        .join(Deployment, Deployment.id == DeploymentStep.deployment_id)
        .where(
            Deployment.service == service,
            Deployment.environment == environment,
            Deployment.created_at < end,
            Deployment.finished_at.is_(None) | (Deployment.finished_at >= start),
            DeploymentStep.action == "bake",
            DeploymentStep.state.in_(("done", "failed")),
            DeploymentStep.finished_at >= start,
            DeploymentStep.finished_at < end,
        )
    )
    found = []
    for finished_at, detail in session.execute(query):
        requests, errors = _traffic(detail)
        if requests:
            found.append((finished_at, requests, errors))
    return sorted(found)


def delivery_runs(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    services: list[str] | None = None,
    environment: str = "production",
) -> list[tuple[int, str, str, int | None, float, float, str | None]]:
    """Runs to an environment that finished in [start, end), rollback runs left out.

    (id, service, state, change_id, started, finished, change close code), times in Unix
    seconds, ordered by finish.
    """
    outcome = change_service.close_codes_query()
    query = (
        select(
            Deployment.id,
            Deployment.service,
            Deployment.state,
            Deployment.change_id,
            epoch(func.coalesce(Deployment.started_at, Deployment.created_at)),
            epoch(Deployment.finished_at),
            outcome.c.close_code,
        )
        .outerjoin(outcome, outcome.c.id == Deployment.change_id)
        .where(
            Deployment.environment == environment,
            Deployment.finished_at >= start,
            Deployment.finished_at < end,
            Deployment.rollback_of.is_(None),
        )
    )
    if services is not None:
        query = query.where(Deployment.service.in_(services))
    rows = session.execute(query.order_by(Deployment.finished_at, Deployment.id))
    return [tuple(r) for r in rows]


def rollback_runs(
    session: Session, *, created_from: datetime, services: list[str] | None = None
) -> list[tuple[int, str, float | None]]:
    """Rollback runs created since a moment, optionally of some services only.

    (rolled-back deployment id, state, finished).
    """
    query = select(Deployment.rollback_of, Deployment.state, epoch(Deployment.finished_at)).where(
        Deployment.rollback_of.is_not(None), Deployment.created_at >= created_from
    )
    if services is not None:
        query = query.where(Deployment.service.in_(services))
    return [(t, s, f) for t, s, f in session.execute(query) if t is not None]


def lead_time_query(
    *,
    start: datetime,
    end: datetime,
    services: list[str] | None = None,
    environment: str = "production",
) -> Select[tuple[str, float]]:
    """(service, lead) per commit first delivered in [start, end): seconds from authored to
    deployed, positive ones only.

    A change counts at its first successful run to the environment; its runs before the
    period keep it out. A query, not rows: a report aggregates it where it runs best.
    """
    firsts = select(
        Deployment.service, Deployment.change_id, epoch(Deployment.finished_at).label("finished")
    ).where(
        Deployment.environment == environment,
        Deployment.state == "succeeded",
        Deployment.rollback_of.is_(None),
        Deployment.finished_at >= start,
        Deployment.finished_at < end,
        _first_success(environment),
    )
    if services is not None:
        firsts = firsts.where(Deployment.service.in_(services))
    delivered = firsts.cte("first_deliveries")
    commits = change_service.commit_times_query()
    lead = (delivered.c.finished - epoch(commits.c.authored_at)).label("lead")
    inner = (
        select(delivered.c.service.label("service"), lead)
        .join(commits, commits.c.change_id == delivered.c.change_id)
        .subquery("lead_times")
    )
    return select(inner.c.service, inner.c.lead).where(inner.c.lead > 0)


def _first_success(environment: str) -> ColumnElement[bool]:
    """The run is its change's first successful run to the environment."""
    earlier = aliased(Deployment)
    return ~(
        select(earlier.id)
        .where(
            earlier.change_id == Deployment.change_id,
            earlier.environment == environment,
            earlier.state == "succeeded",
            earlier.rollback_of.is_(None),
            (earlier.finished_at < Deployment.finished_at)
            | ((earlier.finished_at == Deployment.finished_at) & (earlier.id < Deployment.id)),
        )
        .exists()
    )


def _last_step(action: str, *, done: bool) -> ScalarSelect[datetime | None]:
    query = select(func.max(DeploymentStep.finished_at)).where(
        DeploymentStep.deployment_id == Deployment.id,
        DeploymentStep.action == action,
        DeploymentStep.phase == "deploy",
    )
    if done:
        query = query.where(DeploymentStep.state == "done")
    return query.scalar_subquery()


def delivery_milestones(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    services: list[str] | None = None,
    environment: str = "production",
) -> list[tuple[Any, ...]]:
    """Each change's way to production, for changes first delivered in [start, end).

    (change id, service, first commit authored, change opened, approved, run started, last
    batch rolled out, last bake passed, run finished) in Unix seconds; None where unknown.
    """
    outcome = change_service.close_codes_query()
    query = (
        select(
            Deployment.change_id,
            Deployment.service,
            epoch(change_service.first_commit_at(Deployment.change_id)),
            epoch(outcome.c.created_at),
            epoch(change_service.approved_at(Deployment.change_id)),
            epoch(func.coalesce(Deployment.started_at, Deployment.created_at)),
            epoch(_last_step("enable", done=False)),
            epoch(_last_step("bake", done=True)),
            epoch(Deployment.finished_at),
        )
        .join(outcome, outcome.c.id == Deployment.change_id)
        .where(
            Deployment.environment == environment,
            Deployment.state == "succeeded",
            Deployment.rollback_of.is_(None),
            Deployment.finished_at >= start,
            Deployment.finished_at < end,
            _first_success(environment),
        )
    )
    if services is not None:
        query = query.where(Deployment.service.in_(services))
    return [tuple(r) for r in session.execute(query)]


def delivered_before(
    session: Session, *, change_ids: list[int], moment: datetime, environment: str = "production"
) -> set[int]:
    """Which of these changes had a successful run to the environment before a moment."""
    found: set[int] = set()
    for i in range(0, len(change_ids), 500):
        query = select(Deployment.change_id).where(
            Deployment.change_id.in_(change_ids[i : i + 500]),
            Deployment.environment == environment,
            Deployment.state == "succeeded",
            Deployment.rollback_of.is_(None),
            Deployment.finished_at < moment,
        )
        found |= {c for c in session.scalars(query) if c is not None}
    return found


def deployment_counts(
    session: Session, *, environment: str = "production"
) -> list[tuple[str, str, int]]:
    """How many runs (rollback runs left out) each service had, by state, ever."""
    query = (
        select(Deployment.service, Deployment.state, func.count())
        .where(Deployment.environment == environment, Deployment.rollback_of.is_(None))
        .group_by(Deployment.service, Deployment.state)
    )
    return [(s, st, int(n)) for s, st, n in session.execute(query)]


def waiting_runs(session: Session, now: datetime) -> QueueStat:
    """Runs queued but not yet begun by a worker: how many, and since when."""
    return due_stat(session, Deployment.created_at, Deployment.state == "pending")
