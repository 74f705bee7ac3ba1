"""A process's heartbeat thread: say it is alive, and recover the work of peers that died."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from flywheel.db import Database
from flywheel.workers import service
from flywheel.workers.identity import Identity

log = logging.getLogger("flywheel.workers")

Recover = Callable[[list[str]], int]
PRUNE_EVERY = 720  # beats
STOP_WAIT_S = 3.0


class Heartbeat:
    """Beats every `interval_s`; a dead peer's unfinished durable work goes to `recover` once."""

    def __init__(
        self,
        db: Database,
        me: Identity,
        *,
        interval_s: float,
        dead_after_s: float,
        recover: Recover | None,
        after_beat: Callable[[], None] | None = None,
    ) -> None:
        self.db, self.me, self.interval_s = db, me, interval_s
        self.dead_after = timedelta(seconds=dead_after_s)
        self.recover, self.after_beat = recover, after_beat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beats = 0

    def start(self) -> None:
        """Register this process (refused if a live one has its name) and start beating."""
        with self.db.session(write=True) as session:
            service.register(session, self.me, dead_after=self.dead_after)
            session.commit()
        self._thread = threading.Thread(target=self._run, name="flywheel-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and record the stop, so peers recover what is left at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        # Best effort and bounded: a peer also sees a stopped process by its silence.
        recorder = threading.Thread(target=self._record_stop, name="flywheel-stop", daemon=True)
        recorder.start()
        recorder.join(STOP_WAIT_S)

    def _record_stop(self) -> None:
        try:
            with self.db.session(write=True) as session:
                service.mark_stopped(session, self.me)
                session.commit()
        except Exception:  # the database may be gone at shutdown; peers then wait dead_after
            log.warning("could not record that %s stopped", self.me.executor_id, exc_info=True)

    def tick(self) -> list[str]:
        """One beat; the executor ids whose work this process recovered."""
        with self.db.session(write=True) as session:
            service.beat(session, self.me)
            self._beats += 1
            if self._beats % PRUNE_EVERY == 0:
                service.prune(session)
            session.commit()
        if self.after_beat is not None:
            self.after_beat()
        if self.recover is None:
            return []
        return [dead for dead in self._claim_dead() if self._recover(dead)]

    def _claim_dead(self) -> list[str]:
        claimed: list[str] = []
        with self.db.session(write=True) as session:
            for dead in service.find_dead(session, self.me, dead_after=self.dead_after):
                if service.claim_recovery(session, dead, self.me):
                    log.warning("recovering the work of %s (%s)", dead.executor_id, dead.reason)
                    claimed.append(dead.executor_id)
            session.commit()
        return claimed

    def _recover(self, executor_id: str) -> bool:
        assert self.recover is not None
        try:
            found = self.recover([executor_id])
        except Exception:
            log.exception("could not recover the work of %s; releasing the claim", executor_id)
            with self.db.session(write=True) as session:
                service.release_claim(session, executor_id)
                session.commit()
            return False
        log.info("recovered %d unfinished run(s) of %s", found, executor_id)
        return True

    def _run(self) -> None:
        self._safe_tick()
        while not self._stop.wait(self.interval_s):
            self._safe_tick()

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:  # a database blip must not end the heartbeat for good
            log.warning("heartbeat of %s failed", self.me.executor_id, exc_info=True)
