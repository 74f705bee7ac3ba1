"""The verification sweep: link fixing changes, resolve, close after the quiet period, reopen."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from flywheel.auth.actor import Actor
from flywheel.db import Database
from flywheel.problem import fix_service, outbox
from flywheel.problem import service as problems
from flywheel.problem.lifecycle import ProblemState
from flywheel.problem.verification import FixStatus, Verdict, verdict

log = logging.getLogger(__name__)
S = ProblemState


def _fix_status(session: Session, problem_id: int) -> FixStatus:
    states = [f.state for f in fix_service.fixes(session, problem_id=problem_id)]
    return FixStatus(total=len(states), open=states.count("open"), done=states.count("done"))


def sweep(
    session: Session, *, actor: Actor, now: datetime, quiet_period: timedelta
) -> dict[str, list[str]]:
    """One pass over open problems; what it did, by kind."""
    done: dict[str, list[str]] = {"linked_changes": fix_service.link_changes(session)}
    for kind in ("resolved", "closed", "reopened"):
        done[kind] = []
    for problem in problems.list_problems(session, state="open", limit=10_000):
        if problem.state not in (S.FIX_IN_PROGRESS.value, S.RESOLVED.value):
            continue
        found = verdict(
            S(problem.state),
            _fix_status(session, problem.id),
            resolved_at=problem.resolved_at,
            last_recurrence=problem.last_recurrence_at,
            now=now,
            quiet_period=quiet_period,
        )
        if found is Verdict.RESOLVE:
            problems.resolve(session, problem, actor=actor, note="every fix is deployed or done")
            done["resolved"].append(problem.number)
        elif found is Verdict.CLOSE:
            days = quiet_period.total_seconds() / 86400
            note = f"no matching incident for {days:g} days after the fix: closed as fixed"
            problems.close_quietly(session, problem, actor=actor, note=note)
            done["closed"].append(problem.number)
    return done


class Worker:
    """Drains backlog webhooks and runs the sweep every `interval_s` in a daemon thread."""

    def __init__(self, db: Database, *, interval_s: float, quiet_period: timedelta) -> None:
        self.db, self.interval_s, self.quiet_period = db, interval_s, quiet_period
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (no-op when the interval is 0)."""
        if self.interval_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="problem-worker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for it briefly."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def run_once(self) -> dict[str, Any]:
        """One drain and one sweep."""
        from flywheel.auth.actor import system_actor
        from flywheel.db import utcnow

        sent = outbox.drain(self.db)
        with self.db.session(write=True) as session:
            done = sweep(
                session, actor=system_actor("problem"), now=utcnow(), quiet_period=self.quiet_period
            )
            session.commit()
        return {**done, "deliveries": sent}

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # keep the worker alive; the next pass retries
                log.warning("problem worker pass failed", exc_info=True)
