"""Heartbeats in the shared database: a dead process's work is recovered by exactly one peer."""

from __future__ import annotations

import os
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from flywheel.app import create_app
from flywheel.auth.roles import Role as UserRole
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.errors import Conflict
from flywheel.workers import service
from flywheel.workers.heartbeat import Heartbeat
from flywheel.workers.identity import Identity, Role
from flywheel.workers.models import WorkerProcess
from tests.factories import make_ci, make_person

HOST = "test-host"


def _me(
    name: str, *, host: str = HOST, pid: int | None = None, role: Role = Role.WORKER
) -> Identity:
    return Identity(name, host, os.getpid() if pid is None else pid, role)


class Recorder:
    """A recovery callback that remembers whose work it was asked to recover."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def __call__(self, executor_ids: list[str]) -> int:
        self.calls.append(executor_ids)
        if self.fail:
            raise RuntimeError("work database unreachable")
        return 1


def _heartbeat(db: Database, me: Identity, recover: Recorder | None = None) -> Heartbeat:
    return Heartbeat(db, me, interval_s=60, dead_after_s=30, recover=recover)


def _row(db: Database, executor_id: str) -> WorkerProcess:
    with db.session() as session:
        row = session.get(WorkerProcess, executor_id)
        assert row is not None
        return row


def test_a_stopped_process_is_recovered_by_exactly_one_of_two_peers(db: Database) -> None:
    gone = _heartbeat(db, _me("gone", host="other-host"))
    gone.start()
    gone.stop()
    recorders = [Recorder(), Recorder()]
    peers = [_heartbeat(db, _me(f"peer-{n}"), recorders[n]) for n in range(2)]
    for peer in peers:
        with db.session(write=True) as session:
            service.register(session, peer.me, dead_after=timedelta(seconds=30))
            session.commit()
    barrier = threading.Barrier(2)
    recovered: list[list[str]] = [[], []]

    def tick(n: int) -> None:
        barrier.wait()
        recovered[n] = peers[n].tick()

    threads = [threading.Thread(target=tick, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(recovered, key=len) == [[], ["gone"]]
    assert sorted(len(r.calls) for r in recorders) == [0, 1]
    row = _row(db, "gone")
    assert row.recovered_by in {"peer-0", "peer-1"} and row.recovered_at is not None
    assert peers[0].tick() == [] and peers[1].tick() == []  # never twice


def test_a_silent_process_is_dead_only_after_the_configured_silence(db: Database) -> None:
    silent = _me("silent", host="other-host", pid=4242)
    with db.session(write=True) as session:
        service.register(session, silent, dead_after=timedelta(seconds=30))
        session.commit()
    recorder = Recorder()
    live = _heartbeat(db, _me("live"), recorder)
    # Registered without start(): the heartbeat thread's own first beat could otherwise
    # claim "silent" between this test's ticks (it did once under a loaded CI run).
    with db.session(write=True) as session:
        service.register(session, live.me, dead_after=timedelta(seconds=30))
        session.commit()
    try:
        assert live.tick() == []  # 0 s of silence
        with db.session(write=True) as session:
            old = utcnow() - timedelta(seconds=31)
            session.execute(
                update(WorkerProcess).where(WorkerProcess.id == "silent").values(last_seen_at=old)
            )
            session.commit()
        assert live.tick() == ["silent"]
        assert recorder.calls == [["silent"]]
    finally:
        live.stop()
    assert _row(db, "live").stopped_at is not None


def test_a_process_gone_from_this_host_is_recovered_without_waiting(db: Database) -> None:
    gone_pid = 2**22 + 4321  # no such process
    with db.session(write=True) as session:
        service.register(session, _me("crashed", pid=gone_pid), dead_after=timedelta(seconds=30))
        session.commit()
    recorder = Recorder()
    live = _heartbeat(db, _me("restarted"), recorder)
    live.start()  # its first beat runs at once, in the heartbeat thread
    try:
        live.tick()
    finally:
        live.stop()
    assert recorder.calls == [["crashed"]]
    assert _row(db, "crashed").recovered_by == "restarted"


def test_a_named_worker_cannot_run_twice_but_takes_over_its_dead_self(db: Database) -> None:
    first = _me("worker-1")  # this test's own pid: alive
    with db.session(write=True) as session:
        service.register(session, first, dead_after=timedelta(seconds=30))
        session.commit()
    second = _me("worker-1", pid=2**22 + 99)
    with db.session(write=True) as session, pytest.raises(Conflict, match="FLYWHEEL_WORKER_NAME"):
        service.register(session, second, dead_after=timedelta(seconds=30))
    with db.session(write=True) as session:
        service.mark_stopped(session, first)
        session.commit()
    with db.session(write=True) as session:
        service.register(session, second, dead_after=timedelta(seconds=30))
        session.commit()
    row = _row(db, "worker-1")
    assert row.pid == second.pid and row.stopped_at is None and row.recovered_at is None


def test_a_failed_recovery_releases_its_claim_and_is_tried_again(db: Database) -> None:
    with db.session(write=True) as session:
        service.register(session, _me("gone", host="elsewhere"), dead_after=timedelta(seconds=1))
        service.mark_stopped(session, _me("gone", host="elsewhere"))
        session.commit()
    failing = Recorder(fail=True)
    live = _heartbeat(db, _me("live"), failing)
    with db.session(write=True) as session:
        service.register(session, live.me, dead_after=timedelta(seconds=30))
        session.commit()
    assert live.tick() == []
    assert failing.calls == [["gone"]]
    assert _row(db, "gone").recovered_at is None
    live.recover = Recorder()
    assert live.tick() == ["gone"]


def test_metrics_show_live_and_dead_workers_and_what_waits(
    settings: Settings, db: Database
) -> None:
    # An API-only app: it runs no heartbeat of its own, so nothing recovers the silent
    # worker (and takes it off the list) between setting it up and reading /metrics.
    app = create_app(settings.model_copy(update={"role": "api"}), db)
    admin = make_person(db, UserRole.ADMIN)
    with db.session(write=True) as session:
        service.register(session, _me("busy", role=Role.ALL), dead_after=timedelta(seconds=30))
        service.register(session, _me("silent", host="elsewhere"), dead_after=timedelta(seconds=30))
        session.execute(
            update(WorkerProcess)
            .where(WorkerProcess.id == "silent")
            .values(last_seen_at=utcnow() - timedelta(minutes=5))
        )
        make_ci(session, "shop", "business_service")
        session.commit()
    probe = {"name": "shop-home", "ci_key": "shop", "url": "http://127.0.0.1:9/", "interval_s": 60}
    with TestClient(app) as client:
        assert client.post("/api/v1/probes", json=probe, headers=admin.headers).status_code == 201
        text = client.get("/metrics", headers=admin.headers).text

    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("flywheel_")
    }
    assert values['flywheel_workers{role="all",state="alive"}'] == 1
    assert values['flywheel_workers{role="worker",state="dead"}'] == 1
    assert values['flywheel_worker_heartbeat_age_seconds{executor="silent",role="worker"}'] >= 299
    assert values['flywheel_queue_depth{queue="probe"}'] == 1  # no probe worker in this app
    assert values['flywheel_queue_depth{queue="deploy"}'] == 0
    for queue in ("deploy", "escalation", "notification", "tracker", "probe"):
        assert f'flywheel_queue_lag_seconds{{queue="{queue}"}}' in values
