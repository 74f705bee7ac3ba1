"""The heartbeat table: register, beat, stop, find the dead and claim their recovery once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from flywheel import __version__
from flywheel.db import utcnow
from flywheel.errors import Conflict
from flywheel.workers.identity import RUNS_WORK, Identity, Seen, pid_alive, why_dead
from flywheel.workers.models import WorkerProcess

KEEP_FOR = timedelta(days=7)


@dataclass(frozen=True)
class Dead:
    """A process whose work a live one must recover, and why."""

    executor_id: str
    reason: str


def register(session: Session, me: Identity, *, dead_after: timedelta) -> None:
    """Record this process as alive; a named one may take over its own row once that one is dead."""
    now = utcnow()
    row = session.get(WorkerProcess, me.executor_id, with_for_update=True)
    if row is None:
        session.add(_fresh(me, now))
        return
    alive = pid_alive(row.pid) if row.hostname == me.hostname else True
    live = row.stopped_at is None and now - row.last_seen_at <= dead_after and alive
    if live and (row.hostname, row.pid) != (me.hostname, me.pid):
        raise Conflict(
            f"another process ({row.hostname} pid {row.pid}) is running as worker "
            f"'{me.executor_id}'; give each process its own FLYWHEEL_WORKER_NAME"
        )
    row.role, row.hostname, row.pid, row.version = me.role.value, me.hostname, me.pid, __version__
    row.started_at = row.last_seen_at = now
    row.stopped_at = row.recovered_by = row.recovered_at = None


def beat(session: Session, me: Identity) -> None:
    """Say this process is still alive (re-registering it if its row is gone)."""
    now = utcnow()
    done = session.execute(
        update(WorkerProcess)
        .where(WorkerProcess.id == me.executor_id)
        .values(last_seen_at=now, stopped_at=None)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        session.add(_fresh(me, now))


def mark_stopped(session: Session, me: Identity) -> None:
    """This process stops: peers recover what it leaves unfinished without waiting."""
    session.execute(
        update(WorkerProcess).where(WorkerProcess.id == me.executor_id).values(stopped_at=utcnow())
    )


def find_dead(session: Session, me: Identity, *, dead_after: timedelta) -> list[Dead]:
    """Processes that ran background work, are dead, and whose work nobody has recovered yet."""
    now = utcnow()
    rows = session.scalars(
        select(WorkerProcess).where(
            WorkerProcess.recovered_at.is_(None),
            WorkerProcess.role.in_([role.value for role in RUNS_WORK]),
            WorkerProcess.id != me.executor_id,
        )
    )
    dead: list[Dead] = []
    for row in rows:
        alive = pid_alive(row.pid) if row.hostname == me.hostname else True
        reason = why_dead(_seen(row), now=now, dead_after=dead_after, me=me, pid_alive=alive)
        if reason:
            dead.append(Dead(row.id, reason))
    return dead


def claim_recovery(session: Session, dead: Dead, me: Identity) -> bool:
    """Take the recovery of a dead process's work; exactly one claimer wins."""
    done = session.execute(
        update(WorkerProcess)
        .where(WorkerProcess.id == dead.executor_id, WorkerProcess.recovered_at.is_(None))
        .values(recovered_by=me.executor_id, recovered_at=utcnow())
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def prune(session: Session) -> int:
    """Forget processes that stopped or were recovered more than a week ago."""
    cutoff = utcnow() - KEEP_FOR
    done = session.execute(
        delete(WorkerProcess).where(
            WorkerProcess.last_seen_at < cutoff,
            or_(WorkerProcess.stopped_at.is_not(None), WorkerProcess.recovered_at.is_not(None)),
        )
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def release_claim(session: Session, executor_id: str) -> None:
    """Undo a recovery claim whose recovery failed, so the next beat tries again."""
    session.execute(
        update(WorkerProcess)
        .where(WorkerProcess.id == executor_id)
        .values(recovered_by=None, recovered_at=None)
    )


def list_processes(session: Session, *, include_gone: bool = False) -> list[WorkerProcess]:
    """The processes on record, newest first; without `include_gone` only unrecovered ones."""
    query = select(WorkerProcess).order_by(WorkerProcess.started_at.desc())
    if not include_gone:
        query = query.where(WorkerProcess.recovered_at.is_(None))
    return list(session.scalars(query))


def _fresh(me: Identity, now: datetime) -> WorkerProcess:
    return WorkerProcess(
        id=me.executor_id,
        role=me.role.value,
        hostname=me.hostname,
        pid=me.pid,
        version=__version__,
        started_at=now,
        last_seen_at=now,
    )


def _seen(row: WorkerProcess) -> Seen:
    return Seen(row.id, row.hostname, row.pid, row.last_seen_at, row.stopped_at)
