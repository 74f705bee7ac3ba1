"""Prometheus lines for Flywheel's own processes and queues (any API process serves them)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from flywheel.workers import queues, service
from flywheel.workers.identity import RUNS_WORK, Role
from flywheel.workers.models import WorkerProcess

STATES = ("alive", "stopped", "dead")


def state_of(row: WorkerProcess, now: datetime, dead_after: timedelta) -> str:
    """alive, stopped (said so) or dead (silent too long), for a process not yet recovered."""
    if row.stopped_at is not None:
        return "stopped"
    return "alive" if now - row.last_seen_at <= dead_after else "dead"


def render(session: Session, now: datetime, dead_after: timedelta) -> str:
    """Worker counts by role and state, heartbeat ages, and every queue's depth and lag."""
    rows = [r for r in service.list_processes(session) if r.role in RUNS_WORK]
    counts = Counter((r.role, state_of(r, now, dead_after)) for r in rows)
    lines = [
        "# HELP flywheel_workers Processes that run background work, by role and state.",
        "# TYPE flywheel_workers gauge",
    ]
    for role in sorted(RUNS_WORK):
        for state in STATES:
            lines.append(
                f'flywheel_workers{{role="{role}",state="{state}"}} {counts[(role, state)]}'
            )
    lines += [
        "# HELP flywheel_worker_heartbeat_age_seconds Seconds since a process's last heartbeat.",
        "# TYPE flywheel_worker_heartbeat_age_seconds gauge",
    ]
    for row in rows:
        if row.stopped_at is None:
            age = max(0.0, (now - row.last_seen_at).total_seconds())
            labels = f'executor="{_label(row.id)}",role="{Role(row.role).value}"'
            lines.append(f"flywheel_worker_heartbeat_age_seconds{{{labels}}} {age:.1f}")
    stats = queues.read_all(session, now)
    lines += [
        "# HELP flywheel_queue_depth Items due and not yet taken by a worker.",
        "# TYPE flywheel_queue_depth gauge",
        *(f'flywheel_queue_depth{{queue="{name}"}} {s.depth}' for name, s in stats.items()),
        "# HELP flywheel_queue_lag_seconds How long the oldest due item has waited.",
        "# TYPE flywheel_queue_lag_seconds gauge",
        *(
            f'flywheel_queue_lag_seconds{{queue="{n}"}} {s.lag_s(now):.1f}'
            for n, s in stats.items()
        ),
    ]
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
