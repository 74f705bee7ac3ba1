"""Deployment runs as DBOS workflows: a process killed mid-run resumes at its last finished step.

Every action is a DBOS step and runs at least once, so the actions are idempotent; the
workflow's control flow depends only on step results, as DBOS replay requires. Runs are
enqueued on the `flywheel.deploy` queue in the work database: processes that run background
work dequeue them (one runner each); API-only processes enqueue through a DBOS client and
never run a step. Each process has its own executor id, so a restarted or surviving process
recovers only what is its own, or what it claimed of a dead peer's (flywheel.workers).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, cast

from dbos import DBOS, DBOSClient, EnqueueOptions, SetWorkflowID
from sqlalchemy.engine import make_url

from flywheel.config import Settings
from flywheel.db import Database
from flywheel.deploy import service
from flywheel.deploy.actions import BOUNCE, ROLLBACK
from flywheel.deploy.run_steps import act, begin_run, finish_run
from flywheel.workers.identity import RUNS_WORK, Identity, Role, identify

log = logging.getLogger("flywheel.deploy")

QUEUE = "flywheel.deploy"
WORKFLOW = "flywheel.deploy.run"
APP_NAME = "flywheel"
LEGACY_EXECUTOR = "local"  # every process's executor id before each had its own


@dataclass
class _Engine:
    database: Database
    url: str


_engine: _Engine | None = None
_client: DBOSClient | None = None
_identity: Identity | None = None
_guard = threading.Lock()


def work_database_url(settings: Settings, database_url: str) -> str:
    """Where DBOS keeps its workflow state: beside an SQLite file, or in the same PostgreSQL."""
    if settings.work_database_url:
        return settings.work_database_url
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{url.database}.work"
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def use_identity(identity: Identity) -> None:
    """Name this process's executor (before the engine launches) and say whether it runs work."""
    global _identity
    _identity = identity


def identity(settings: Settings) -> Identity:
    """This process's identity: the one set by use_identity, else a new one that runs work."""
    global _identity
    if _identity is None:
        _identity = identify(Role.ALL, settings.worker_name)
    return _identity


def prepare(settings: Settings, database_url: str) -> None:
    """Create or upgrade the work database's schema (what an API-only process needs to enqueue)."""
    DBOS.migrate(work_database_url(settings, database_url))


def launch(database: Database, settings: Settings) -> None:
    """Start the engine for this database (once per process): listen, resume own unfinished runs."""
    global _engine
    me = identity(settings)
    if me.role not in RUNS_WORK:
        raise RuntimeError("an API-only process does not run deployments")
    url = work_database_url(settings, database.url)
    with _guard:
        if _engine is not None and _engine.database is database:
            return
        if _engine is not None:
            DBOS.destroy(destroy_registry=False)
        config = {
            "name": APP_NAME,
            "system_database_url": url,
            "log_level": "WARNING",
            "executor_id": me.executor_id,
        }
        DBOS(config=cast(Any, config))
        DBOS.launch()
        DBOS.register_queue(QUEUE, polling_interval_sec=0.5)
        DBOS._recover_pending_workflows([LEGACY_EXECUTOR])
        _engine = _Engine(database, url)
    with database.session() as session:
        unfinished = service.active_deployments(session)
    for deployment in unfinished:  # committed, but the process died before enqueueing its run
        if not DBOS.list_workflows(workflow_ids=[deployment.workflow_id]):
            start_run(deployment.id, deployment.workflow_id)


def launched() -> bool:
    """Whether this process's engine runs."""
    return _engine is not None


def shutdown(*, wait_s: int = 15) -> None:
    """Stop the engine, letting runs in flight finish for a while (a peer recovers the rest)."""
    global _engine, _client
    with _guard:
        if _engine is not None:
            DBOS.destroy(destroy_registry=False, workflow_completion_timeout_sec=wait_s)
            _engine = None
        if _client is not None:
            _client.destroy()
            _client = None


def database() -> Database:
    """The database the engine's steps work on."""
    if _engine is None:
        raise RuntimeError("the deployment engine is not launched")
    return _engine.database


def submit(database: Database, settings: Settings, deployment_id: int, workflow_id: str) -> None:
    """Queue a committed run: a process that runs work takes it, this one or another."""
    if identity(settings).role in RUNS_WORK:
        launch(database, settings)
        start_run(deployment_id, workflow_id)
        return
    options: EnqueueOptions = {
        "queue_name": QUEUE,
        "workflow_name": WORKFLOW,
        "workflow_id": workflow_id,
        "application_name": APP_NAME,
    }
    _work_client(settings, database.url).enqueue(options, deployment_id)


def start_run(deployment_id: int, workflow_id: str) -> None:
    """Enqueue a run's workflow (enqueuing the same workflow id twice runs it once)."""
    with SetWorkflowID(workflow_id):
        DBOS.enqueue_workflow(QUEUE, deployment_workflow, deployment_id)


def recover(executor_ids: list[str], database: Database, settings: Settings) -> int:
    """Put dead executors' unfinished runs back on the queue; how many were found."""
    launch(database, settings)
    return len(DBOS._recover_pending_workflows(executor_ids))


def wait_for(workflow_id: str) -> Any:
    """Block until a run's workflow returns (tests and the CLI's --wait on the server)."""
    return DBOS.retrieve_workflow(workflow_id).get_result()


def _work_client(settings: Settings, database_url: str) -> DBOSClient:
    global _client
    with _guard:
        if _client is None:
            url = work_database_url(settings, database_url)
            _client = DBOSClient(system_database_url=url, application_name=APP_NAME)
        return _client


@DBOS.step(name="flywheel.deploy.begin")
def _begin(deployment_id: int, workflow_id: str) -> dict[str, Any]:
    return begin_run(database(), deployment_id, workflow_id)


@DBOS.step(name="flywheel.deploy.act")
def _act(
    deployment_id: int,
    seq: int,
    phase: str,
    batch: int,
    action: str,
    instances: list[str],
    updated: list[str],
) -> dict[str, Any]:
    runner = str(DBOS.executor_id)
    return act(database(), deployment_id, seq, phase, batch, action, instances, updated, runner)


@DBOS.step(name="flywheel.deploy.finish")
def _finish(deployment_id: int, state: str, reason: str, evidence: dict[str, Any]) -> str:
    return finish_run(database(), deployment_id, state, reason, evidence)


def _roll_back(
    deployment_id: int, seq: int, batches: list[list[str]], failure: dict[str, Any]
) -> str:
    aborted = failure["outcome"] == "abort"
    seq += 1
    _act(deployment_id, seq, "rollback", -1, "rolling_back", [], [])
    problems: list[str] = []
    for index in range(len(batches) - 1, -1, -1):
        for action in ROLLBACK:
            seq += 1
            result = _act(deployment_id, seq, "rollback", index, action, batches[index], [])
            if result["outcome"] == "failed":
                problems.append(result["reason"])
            stopped = result["detail"].get("left_stopped") if action == "start" else None
            if stopped:
                names = ", ".join(stopped)
                problems.append(f"{names} left stopped and out of rotation: no previous version")
    reason = failure["reason"]
    evidence = {"failure": failure, "rollback_problems": problems}
    if problems:
        return _finish(deployment_id, "failed", f"{reason}; rollback incomplete", evidence)
    return _finish(deployment_id, "aborted" if aborted else "rolled_back", reason, evidence)


@DBOS.workflow(name=WORKFLOW)
def deployment_workflow(deployment_id: int) -> str:
    """Bounce the pool batch by batch; on failure or abort, roll back the batches touched."""
    run = _begin(deployment_id, str(DBOS.workflow_id))
    if run["finished"]:
        return str(run["state"])
    batches: list[list[str]] = run["batches"]
    seq, done = 0, list[list[str]]()
    for index, batch in enumerate(batches):
        updated = [key for b in done for key in b]
        for action in ("gate", *BOUNCE):
            seq += 1
            result = _act(deployment_id, seq, "deploy", index, action, batch, updated)
            while result["outcome"] == "paused":
                DBOS.sleep(result["retry_s"])
                result = _act(deployment_id, seq, "deploy", index, action, batch, updated)
            if result["outcome"] != "ok":
                touched = done if action == "gate" else [*done, batch]
                return _roll_back(deployment_id, seq, touched, result)
        done.append(batch)
    return _finish(deployment_id, "succeeded", f"{len(batches)} batch(es) healthy", {})
