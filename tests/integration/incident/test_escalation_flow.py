"""Escalation end to end on both backends: timing, ack stops it, fire once, restart, retries."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.incident import escalation_service, escalation_worker
from flywheel.incident.escalation_models import Escalation
from flywheel.incident.models import IncidentEvent
from tests.factories import am_alert, am_payload, make_person
from tests.integration.incident.conftest import Desk
from tests.integration.incident.notify_support import webhook_server
from tests.integration.incident.pager import Pager, make_pager

TWO_STEPS = [
    {"targets": [{"kind": "schedule", "ref": "web"}], "wait_minutes": 5},
    {"targets": [{"kind": "user", "ref": "erik"}], "wait_minutes": 5},
]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The suite's settings with the background worker off: tests drive it with a clock."""
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key="test-secret",
        work_database_url=f"sqlite:///{tmp_path}/work.sqlite",
        notify_worker_interval_s=0,
        notify_timeout_s=0.5,
        public_url="http://flywheel.test",
    )


@pytest.fixture
def pager(desk: Desk, settings: Settings) -> Pager:
    dana = make_person(desk.db, Role.OPERATOR, username="dana")
    erik = make_person(desk.db, Role.DEVELOPER, username="erik")
    return make_pager(desk, settings, dana, erik)


def test_steps_fire_on_time_to_real_webhooks(pager: Pager) -> None:
    with webhook_server() as dana_hook, webhook_server() as erik_hook:
        pager.contact("dana", "webhook", dana_hook.url(), secret="dana-signing-key")
        pager.contact("erik", "slack", erik_hook.url())
        pager.policy(steps=TWO_STEPS)
        incident_id = pager.fire()
        pager.tick(0)
        assert [r.json["event"] for r in dana_hook.received] == ["opened"]
        first = dana_hook.received[0]
        expected = hmac.new(b"dana-signing-key", first.body, hashlib.sha256).hexdigest()
        assert first.headers["X-Flywheel-Signature"] == f"sha256={expected}"
        assert first.json["ack_url"].startswith("http://flywheel.test/ack/")
        assert first.json["incident_id"] == incident_id
        pager.tick(4.9)
        assert erik_hook.received == []
        pager.tick(5)
        assert len(erik_hook.received) == 1
        slack_body = erik_hook.received[0].json
        assert "escalated to you (step 2 of 2)" in slack_body["text"]
        assert slack_body["blocks"][0]["type"] == "section"
        pager.tick(30)
        assert (len(dana_hook.received), len(erik_hook.received)) == (1, 1)
    assert pager.escalation(incident_id).state == "exhausted"
    lines = pager.timeline(incident_id, "notification")
    assert lines == ["notified dana by webhook (opened)", "notified erik by slack (escalated)"]


def test_acknowledging_stops_escalation_and_resolving_notifies(pager: Pager) -> None:
    with webhook_server() as hook:
        pager.contact("dana", "webhook", hook.url("/dana"))
        pager.contact("erik", "webhook", hook.url("/erik"))
        pager.policy(steps=TWO_STEPS)
        incident_id = pager.fire()
        pager.tick(0)
        version = pager.desk.incidents()[-1].version
        pager.api("POST", f"/api/v1/incidents/{incident_id}/ack", {"version": version}, pager.dana)
        pager.tick(10)
        assert pager.escalation(incident_id).state == "acknowledged"
        assert [r.path for r in hook.received] == ["/dana"]
        version = pager.desk.incidents()[-1].version
        pager.api("POST", f"/api/v1/incidents/{incident_id}/resolve", {"version": version})
        pager.tick(11)
        assert [(r.path, r.json["event"]) for r in hook.received] == [
            ("/dana", "opened"),
            ("/dana", "resolved"),
        ]
        assert hook.received[1].json["ack_url"] == ""
    assert pager.escalation(incident_id).state == "finished"
    assert "escalation stopped: acknowledged by dana" in pager.timeline(incident_id)


def test_repeat_runs_the_policy_again(pager: Pager) -> None:
    with webhook_server() as hook:
        pager.contact("dana", "webhook", hook.url())
        pager.policy(steps=[TWO_STEPS[0]], repeat=2)
        incident_id = pager.fire()
        for minute in (0, 5, 10, 15, 20):
            pager.tick(minute)
        assert [r.json["event"] for r in hook.received] == ["opened", "escalated", "escalated"]
    assert pager.escalation(incident_id).fired == 3


def test_two_workers_fire_each_step_once(pager: Pager, settings: Settings) -> None:
    pager.contact("dana", "email", "dana@example.org")
    pager.policy(steps=TWO_STEPS)
    ids = [pager.fire("fp1")]
    for service in ("alpha", "beta", "gamma"):
        alert = am_alert(f"fp-{service}", instance="x", service=service)
        pager.desk.send(am_payload(alert))
    ids = [i.id for i in pager.desk.incidents()]
    with pager.desk.db.session(write=True) as session:
        # every service pages through the 'web' policy (the default one)
        policy = escalation_service.get_policy(session, key="web")
        policy.is_default = True
        session.commit()
    databases = [Database(settings.resolved_database_url, settings) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def drain(database: Database) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                escalation_worker.advance_escalations(database, settings, now=pager.start)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(d,)) for d in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for database in databases:
        database.dispose()
    assert errors == []
    for incident_id in ids:
        steps = pager.timeline(incident_id, "escalation.step")
        assert len(steps) == 1, (incident_id, steps)
        assert len(pager.deliveries(incident_id)) == 1


def test_a_restarted_worker_resumes_pending_escalations(pager: Pager, settings: Settings) -> None:
    pager.contact("dana", "email", "dana@example.org")
    pager.contact("erik", "email", "erik@example.org")
    pager.policy(steps=TWO_STEPS)
    incident_id = pager.fire()
    first = Database(settings.resolved_database_url, settings)
    escalation_worker.advance_escalations(first, settings, now=pager.start)
    first.dispose()  # the process goes away; its state is all in the database
    again = Database(settings.resolved_database_url, settings)
    try:
        escalation_worker.advance_escalations(again, settings, now=pager.start)
        assert [d.recipient for d in pager.deliveries(incident_id)] == ["dana"]
        later = pager.start + timedelta(minutes=6)
        escalation_worker.advance_escalations(again, settings, now=later)
    finally:
        again.dispose()
    assert [d.recipient for d in pager.deliveries(incident_id)] == ["dana", "erik"]


def test_failing_endpoint_is_retried_with_backoff(pager: Pager) -> None:
    with webhook_server(status=500) as hook:
        pager.contact("dana", "webhook", hook.url())
        pager.policy(steps=TWO_STEPS)
        incident_id = pager.fire()
        pager.tick(0)
        (delivery,) = pager.deliveries(incident_id)
        assert (delivery.status, delivery.attempts, delivery.last_error) == (
            "pending",
            1,
            "HTTP 500",
        )
        first_retry = delivery.next_attempt_at
        pager.tick(0.1)
        assert len(hook.received) == 1  # not due yet
        pager.tick(10 / 60)
        (delivery,) = pager.deliveries(incident_id)
        assert delivery.attempts == 2 and len(hook.received) == 2
        assert first_retry is not None and delivery.next_attempt_at is not None
        assert (delivery.next_attempt_at - first_retry).total_seconds() == pytest.approx(20, abs=1)
        hook.status = 200
        pager.tick(31 / 60)
    (delivery,) = pager.deliveries(incident_id)
    assert (delivery.status, delivery.attempts) == ("sent", 3)
    lines = pager.timeline(incident_id, "notification")
    assert lines[0] == "delivery to dana by webhook failed (HTTP 500), retry 1 in 10 s"
    assert lines[1] == "delivery to dana by webhook failed (HTTP 500), retry 2 in 20 s"
    assert lines[2] == "notified dana by webhook (opened)"


def test_a_hanging_endpoint_times_out_and_never_blocks_intake(
    pager: Pager, settings: Settings
) -> None:
    with webhook_server(delay_s=3) as hook:
        pager.contact("dana", "webhook", hook.url())
        pager.policy(steps=TWO_STEPS)
        pager.fire("fp-first")
        live = Settings(**{**settings.model_dump(), "notify_worker_interval_s": 0.05})
        worker = escalation_worker.Worker(pager.desk.db, live)
        worker.start()
        try:
            deadline = time.monotonic() + 5
            while not hook.received and time.monotonic() < deadline:
                time.sleep(0.02)
            assert hook.received, "the worker never tried the endpoint"
            took = []
            for n in range(5):
                begin = time.monotonic()
                alert = am_alert(f"fp-more-{n}", instance="web2", service="checkout")
                pager.desk.send(am_payload(alert))
                took.append(time.monotonic() - begin)
        finally:
            worker.stop()
    assert max(took) < 0.4, took  # the send hangs for 0.5 s at a time; intake does not wait
    (delivery,) = pager.deliveries()
    assert delivery.last_error == "timed out after 0.5 s"
    assert delivery.status == "pending"


def test_unreachable_people_and_empty_schedules_are_on_the_timeline(pager: Pager) -> None:
    pager.policy(steps=TWO_STEPS)
    incident_id = pager.fire()
    pager.tick(0)
    lines = pager.timeline(incident_id)
    assert "no contact method for dana: not notified of opened" in lines
    with pager.desk.db.session() as session:
        kinds = session.scalars(
            select(IncidentEvent.kind).where(IncidentEvent.incident_id == incident_id)
        )
        assert "escalation.step" in list(kinds)
    assert pager.deliveries(incident_id) == []


def test_reopening_restarts_escalation(pager: Pager) -> None:
    pager.contact("dana", "email", "dana@example.org")
    pager.policy(steps=TWO_STEPS)
    incident_id = pager.fire()
    pager.tick(0)
    version = pager.desk.incidents()[-1].version
    pager.api("POST", f"/api/v1/incidents/{incident_id}/resolve", {"version": version})
    pager.tick(1)
    version = pager.desk.incidents()[-1].version
    body = {"version": version, "reason": "still broken"}
    pager.api("POST", f"/api/v1/incidents/{incident_id}/reopen", body)
    pager.tick(2)
    events = [d.event for d in pager.deliveries(incident_id)]
    assert events == ["opened", "resolved", "opened"]
    with pager.desk.db.session() as session:
        state = session.scalar(
            select(Escalation.state).where(Escalation.incident_id == incident_id)
        )
    assert state == "active"
