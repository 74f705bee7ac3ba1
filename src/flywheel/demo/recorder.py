"""Replay the planned history through Flywheel's own service functions, each at its moment.

Every step runs inside `backdated(moment)`, so the changes, approvals, deployment runs,
incidents and their audit events carry the times the plan gives them.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.change import approvals
from flywheel.change import service as change_service
from flywheel.change.lifecycle import State
from flywheel.change.schemas import ChangeCreate, CommitIn
from flywheel.config import Settings
from flywheel.db import Database, backdated
from flywheel.demo.history import ChangeStory, History, IncidentStory
from flywheel.deploy import service as deploy_service
from flywheel.deploy.external import ExternalRun
from flywheel.deploy.models import Deployment
from flywheel.incident import causes, intake, integrations
from flywheel.incident import service as incident_service
from flywheel.incident.cirules import DEFAULT_RULES, CIRule, parse_rules
from flywheel.incident.grouping import IncidentState
from flywheel.incident.incoming import AlertStatus, Incoming, normalise
from flywheel.incident.intake_views import policy_of
from flywheel.incident.schemas import IntegrationCreate

Step = Callable[[Session], None]
COMMIT_EVERY = 200
CAST_INTEGRATION = "demo-monitoring"


@dataclass
class Cast:
    """Who acts in the history: the pipeline, the change manager, the responders, monitoring."""

    pipeline: Actor
    change_manager: Actor
    responders: dict[str, Actor]
    monitoring: Actor
    source: str


@dataclass
class Replay:
    """Steps ordered by time; what earlier steps created, for the later ones."""

    cast: Cast
    settings: Settings
    end: datetime
    queue: list[tuple[datetime, int, Step]] = field(default_factory=list)
    change_ids: dict[tuple[str, int], int] = field(default_factory=dict)
    run_ids: dict[tuple[str, int], int] = field(default_factory=dict)
    rules: list[CIRule] = field(default_factory=lambda: parse_rules(DEFAULT_RULES))
    _order: Iterator[int] = field(default_factory=itertools.count)

    def at(self, moment: datetime, step: Step) -> None:
        """Run `step` at `moment` (steps at the end of the period or later are left out)."""
        if moment < self.end:
            heapq.heappush(self.queue, (moment, next(self._order), step))

    def drain(self) -> Iterator[tuple[datetime, Step]]:
        """The steps in time order."""
        while self.queue:
            moment, _, step = heapq.heappop(self.queue)
            yield moment, step


def cast_of(session: Session, *, actor: Actor) -> Cast:
    """The demo's people as actors, and an Alertmanager integration for monitoring."""

    def person(name: str) -> Actor:
        return auth_service.actor_for(auth_service.get_user(session, username=name))

    found, _ = integrations.create_integration(
        session, actor=actor, data=IntegrationCreate(name=CAST_INTEGRATION)
    )
    return Cast(
        pipeline=person("pipeline"),
        change_manager=person("carla"),
        responders={name: person(name) for name in ("oscar", "admin")},
        monitoring=integrations.integration_actor(found),
        source=found.source,
    )


def record(db: Database, settings: Settings, cast: Cast, history: History, end: datetime) -> int:
    """Replay the history; the number of steps taken."""
    replay = Replay(cast, settings, end)
    for story in history.changes:
        _schedule_change(replay, story)
    for outage in history.outages:
        _schedule_incident(replay, outage, cause=None)
    taken = 0
    with db.session(write=True) as session:
        for moment, step in replay.drain():
            with backdated(moment):
                step(session)
            taken += 1
            if taken % COMMIT_EVERY == 0:
                session.commit()
        session.commit()
    return taken


def _schedule_change(replay: Replay, story: ChangeStory) -> None:
    key = (story.service, story.serial)
    cast = replay.cast

    def stage(session: Session) -> None:
        _run(session, cast.pipeline, story, "staging", story.staged_at, change_id=None)

    def open_change(session: Session) -> None:
        data = ChangeCreate(
            service=story.service,
            title=f"{story.service} {story.version}",
            version=story.version,
            code_metrics=story.metrics,
            commits=[CommitIn(sha=sha, authored_at=at, author="dev") for sha, at in story.commits],
            external_id=f"demo-history-{story.service}-{story.serial}",
        )
        change, _ = change_service.open_change(session, actor=cast.pipeline, data=data)
        replay.change_ids[key] = change.id

    def deploy(session: Session) -> None:
        change_id = replay.change_ids[key]
        # Approved here if it was held although the plan did not expect it.
        if _approve(session, cast, change_id) != State.SCHEDULED:
            return  # rejected (or otherwise stopped): nothing to deploy
        run = _run(session, cast.pipeline, story, "production", story.deploy_at, change_id)
        replay.run_ids[key] = run.id

    def approve(session: Session) -> None:
        _approve(session, cast, replay.change_ids[key])

    def review(session: Session) -> None:
        change_id = replay.change_ids[key]
        if change_service.get_change(session, change_id=change_id).state == State.REVIEW:
            change_service.close(
                session, actor=cast.responders["oscar"], change_id=change_id, notes="reviewed"
            )

    replay.at(story.staged_at, stage)
    replay.at(story.opened_at, open_change)
    if story.approved_at is not None:
        replay.at(story.approved_at, approve)
    replay.at(story.deploy_at, deploy)
    replay.at(story.reviewed_at, review)
    if story.incident is not None:
        _schedule_incident(replay, story.incident, cause=story)


def _approve(session: Session, cast: Cast, change_id: int) -> str:
    """The change manager approves the change if it waits for approval; its state after."""
    change = change_service.get_change(session, change_id=change_id)
    if change.state in (State.AUTHORIZE.value, State.ASSESS.value):
        change = approvals.approve(
            session, actor=cast.change_manager, change_id=change_id, comment="risk understood"
        )
    return change.state


def _run(
    session: Session,
    actor: Actor,
    story: ChangeStory,
    environment: str,
    start: datetime,
    change_id: int | None,
) -> Deployment:
    production = environment == "production"
    shift = start - story.deploy_at
    failed = production and story.rolled_back_by_bake
    run = ExternalRun(
        service=story.service,
        pool=f"{story.service}-pool",
        version=story.version,
        started_at=start,
        rolled_out_at=story.rolled_out_at + shift,
        finished_at=story.finished_at + shift,
        state="rolled_back" if failed else "succeeded",
        environment=environment,
        change_id=change_id,
        requests=story.requests if production else story.requests // 20,
        errors=story.errors if production else 0,
        reason="bake failed: error ratio above the limit" if failed else "bake passed",
    )
    return deploy_service.record_external_deployment(session, actor=actor, run=run)


def _alert(replay: Replay, story: IncidentStory, status: AlertStatus, now: datetime) -> Incoming:
    labels = {"alertname": story.alertname, "service": story.service, "severity": "critical"}
    return normalise(
        status=status,
        labels=labels,
        annotations={"summary": story.summary},
        starts_at=story.fired_at,
        ends_at=now if status is AlertStatus.RESOLVED else None,
        fingerprint=None,
        severity=None,
        generator_url=None,
        rules=replay.rules,
        now=now,
    )


def _schedule_incident(replay: Replay, story: IncidentStory, cause: ChangeStory | None) -> None:
    cast = replay.cast
    opened: dict[str, int] = {}

    def send(status: AlertStatus) -> Step:
        def step(session: Session) -> None:
            now = story.fired_at if status is AlertStatus.FIRING else story.restored_at
            result = intake.receive(
                session,
                actor=cast.monitoring,
                source=cast.source,
                alerts=[_alert(replay, story, status, now)],
                policy=policy_of(replay.settings),
                now=now,
            )
            numbers = result.incidents_opened + result.incidents_reopened
            numbers += result.incidents_updated
            if status is AlertStatus.FIRING and numbers:
                opened["id"] = int(numbers[0].removeprefix("INC"))

        return step

    def respond(session: Session) -> None:
        if "id" not in opened:
            return
        incident = incident_service.get_incident(session, incident_id=opened["id"])
        if incident.state == IncidentState.TRIGGERED.value:
            incident_service.acknowledge(
                session,
                actor=cast.responders[story.responder],
                incident_id=incident.id,
                version=incident.version,
            )

    def roll_back(session: Session) -> None:
        assert cause is not None
        key = (cause.service, cause.serial)
        if key not in replay.run_ids:
            return
        run = ExternalRun(
            service=cause.service,
            pool=f"{cause.service}-pool",
            version=f"0.{cause.serial - 1}.0",
            started_at=story.rollback_at or story.acknowledged_at,
            rolled_out_at=story.restored_at,
            finished_at=story.restored_at,
            rollback_of=replay.run_ids[key],
            requests=cause.requests // 4,
            reason=f"rolled back from incident {opened.get('id')}",
        )
        deploy_service.record_external_deployment(session, actor=cast.monitoring, run=run)

    def confirm(session: Session) -> None:
        assert cause is not None
        change_id = replay.change_ids.get((cause.service, cause.serial))
        if "id" in opened and change_id is not None:
            causes.confirm_cause(
                session,
                actor=cast.responders[story.responder],
                incident_id=opened["id"],
                change_id=change_id,
                note=f"{cause.version} introduced the errors; rolled back",
            )

    def resolve(session: Session) -> None:
        if "id" not in opened:
            return
        incident = incident_service.get_incident(session, incident_id=opened["id"])
        if incident.state != IncidentState.RESOLVED.value:
            incident_service.resolve(
                session,
                actor=cast.responders[story.responder],
                incident_id=incident.id,
                version=incident.version,
                note="service restored",
            )

    replay.at(story.fired_at, send(AlertStatus.FIRING))
    replay.at(story.acknowledged_at, respond)
    if cause is not None and story.rollback_at is not None:
        replay.at(story.rollback_at, roll_back)
    replay.at(story.restored_at, send(AlertStatus.RESOLVED))
    if cause is not None:
        replay.at(story.resolved_at, confirm)
    replay.at(story.resolved_at, resolve)


def already_recorded(session: Session) -> bool:
    """Whether an earlier run recorded the history (its monitoring integration exists)."""
    return any(i.name == CAST_INTEGRATION for i in integrations.list_integrations(session))
