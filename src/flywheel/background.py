"""A process's background work, by role: durable runs, paging, problem checks, probes, SLO rounds.

`flywheel serve` (role all) runs it beside the API, `flywheel worker` runs only it, and
`flywheel serve --api-only` runs none of it. Every piece claims its work in the shared
database, so any number of processes can run it at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

from flywheel.config import Settings
from flywheel.db import Database
from flywheel.deploy import durable
from flywheel.deploy import service as deploy_service
from flywheel.errors import Conflict
from flywheel.incident import escalation_worker, probe_runner
from flywheel.problem.verify_service import Worker as ProblemWorker
from flywheel.slo import schedule as slo_schedule
from flywheel.workers.heartbeat import Heartbeat
from flywheel.workers.identity import RUNS_WORK, Identity, Role

log = logging.getLogger("flywheel")


class Loop(Protocol):
    """A background thread with a start and a stop."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class BackgroundWork:
    """Everything a process runs besides requests, started and stopped in order."""

    def __init__(self, db: Database, settings: Settings, me: Identity) -> None:
        self.db, self.settings, self.me = db, settings, me
        self.heartbeat: Heartbeat | None = None
        self._loops: list[Loop] = []

    def start(self) -> None:
        """Register and start what this process's role runs."""
        durable.use_identity(self.me)
        if self.me.role not in RUNS_WORK:
            _prepare_work_database(self.db, self.settings)
            return
        self.heartbeat = Heartbeat(
            self.db,
            self.me,
            interval_s=self.settings.worker_heartbeat_s,
            dead_after_s=self.settings.worker_dead_after_s,
            recover=self._recover,
            after_beat=self._launch_when_runs_wait,
        )
        try:
            self.heartbeat.start()
        except Conflict:
            raise
        except Exception:  # no schema yet, or no database: /readyz says so
            log.warning("could not register %s", self.me.executor_id, exc_info=True)
            self.heartbeat = None
        if self.me.role is Role.WORKER:
            durable.launch(self.db, self.settings)
        slo_schedule.start(self.db, self.settings)
        self._loops = _loops(self.db, self.settings, self.me.role)
        for loop in self._loops:
            loop.start()

    def stop(self) -> None:
        """Stop taking work, let runs in flight finish for a while, and say this process stopped."""
        for loop in reversed(self._loops):
            loop.stop()
        durable.shutdown()
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def _recover(self, executor_ids: list[str]) -> int:
        """Dead peers' unfinished runs back on the queue (no runs unfinished: nothing to do)."""
        with self.db.session() as session:
            if not deploy_service.active_deployments(session):
                return 0
        return durable.recover(executor_ids, self.db, self.settings)

    def _launch_when_runs_wait(self) -> None:
        """Start the engine once runs exist (an API-only peer may have queued them)."""
        if durable.launched():
            return
        with self.db.session() as session:
            waiting = deploy_service.active_deployments(session)
        if waiting:
            log.info("%d unfinished deployment(s): starting the deployment engine", len(waiting))
            durable.launch(self.db, self.settings)


def _loops(db: Database, settings: Settings, role: Role) -> list[Loop]:
    loops: list[Loop] = []
    if settings.probe_worker or role is Role.WORKER:
        loops.append(probe_runner.ProbeWorker(db, settings))
    loops.append(
        ProblemWorker(
            db,
            interval_s=settings.problem_worker_seconds,
            quiet_period=timedelta(days=settings.problem_quiet_period_days),
        )
    )
    if settings.notify_worker_interval_s > 0:
        loops.append(escalation_worker.Worker(db, settings))
    return loops


def _prepare_work_database(db: Database, settings: Settings) -> None:
    try:
        durable.prepare(settings, db.url)
    except Exception:  # unreachable work database: enqueueing fails later with a clear error
        log.warning("could not prepare the work database", exc_info=True)
