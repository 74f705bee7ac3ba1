"""What paged people hear after the first page: priority raised, known error, team channels."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from flywheel.auth.actor import system_actor
from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.incident import service
from tests.factories import make_person, make_team
from tests.integration.incident.conftest import Desk
from tests.integration.incident.notify_support import webhook_server
from tests.integration.incident.pager import Pager, make_pager

ON_CALL = {"targets": [{"kind": "schedule", "ref": "web"}], "wait_minutes": 5}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The suite's settings with the background worker off: tests drive it with a clock."""
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key="test-secret",
        work_database_url=f"sqlite:///{tmp_path}/work.sqlite",
        notify_worker_interval_s=0,
        public_url="http://flywheel.test",
    )


@pytest.fixture
def pager(desk: Desk, settings: Settings) -> Pager:
    dana = make_person(desk.db, Role.OPERATOR, username="dana")
    erik = make_person(desk.db, Role.DEVELOPER, username="erik")
    return make_pager(desk, settings, dana, erik)


def _event(pager: Pager, incident_id: int, kind: str, summary: str) -> None:
    with pager.desk.db.session(write=True) as session:
        incident = service.get_incident(session, incident_id=incident_id)
        service.add_event(session, incident, kind=kind, actor=system_actor("t"), summary=summary)
        session.commit()


def test_priority_raised_and_known_error_reach_those_paged(pager: Pager) -> None:
    with webhook_server() as hook:
        pager.contact("dana", "webhook", hook.url())
        pager.policy(steps=[ON_CALL])
        incident_id = pager.fire()
        _event(pager, incident_id, "priority.raised", "raised P3 → P2: early event")
        pager.tick(0)  # the first page; events before it are not repeated
        _event(pager, incident_id, "priority.raised", "raised P2 → P1: 2 tenants down")
        _event(pager, incident_id, "known_error", "KE12: restart the cache (workaround)")
        _event(pager, incident_id, "note", "not followed")
        pager.tick(1)
        pager.tick(2)  # nothing new: nothing sent twice
    events = {r.json["event"]: r.json["text"] for r in hook.received}
    assert hook.received[0].json["event"] == "opened"  # sent one pass before the others
    assert len(hook.received) == 3
    assert set(events) == {"opened", "priority.raised", "known_error"}
    assert "raised P2 → P1: 2 tenants down" in events["priority.raised"]
    assert "KE12: restart the cache" in events["known_error"]


def test_a_team_channel_or_else_its_members(pager: Pager) -> None:
    with pager.desk.db.session(write=True) as session:
        make_team(session, "ops", members=["dana", "erik"])
        make_team(session, "dba", members=["erik"])
        session.commit()
    with webhook_server() as hook:
        pager.contact("team:ops", "slack", hook.url("/ops"), label="#ops")
        pager.contact("erik", "webhook", hook.url("/erik"))
        steps = [
            {"targets": [{"kind": "team", "ref": "ops"}], "wait_minutes": 5},
            {"targets": [{"kind": "team", "ref": "dba"}], "wait_minutes": 5},
        ]
        pager.policy(steps=steps)
        incident_id = pager.fire()
        pager.tick(0)
        pager.tick(5)
    assert [r.path for r in hook.received] == ["/ops", "/erik"]
    channel_message = hook.received[0].body.decode()
    assert "Open INC" in channel_message and "Acknowledge" not in channel_message  # no one's link
    assert hook.received[1].json["ack_url"].startswith("http://flywheel.test/ack/")
    lines = pager.timeline(incident_id, "notification")
    assert lines == ["notified #ops by slack (opened)", "notified erik by webhook (escalated)"]


def test_no_policy_means_no_paging_said_once(pager: Pager) -> None:
    incident_id = pager.fire()
    pager.tick(0)
    pager.tick(10)
    assert pager.timeline(incident_id, "escalation") == ["no escalation policy covers checkout"]
    assert pager.escalation(incident_id).state == "exhausted"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_worker_skips_an_incident_intake_holds_and_never_waits_for_it(pager: Pager) -> None:
    """Intake locks incidents before their escalations; the worker must not lock the other way."""
    pager.contact("dana", "email", "dana@example.org")
    pager.policy(steps=[ON_CALL])
    incident_id = pager.fire()
    engine = create_engine(pager.desk.db.url)
    with engine.connect() as intake:
        locked = text("SELECT id FROM incidents WHERE id = :id FOR NO KEY UPDATE")
        assert intake.execute(locked, {"id": incident_id}).scalar() == incident_id
        worked: list[int] = []
        worker = threading.Thread(target=lambda: worked.append(pager.tick(0)), daemon=True)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the worker waited for intake's lock"
        assert worked == [0] and pager.deliveries(incident_id) == []
        intake.rollback()
    engine.dispose()
    assert pager.tick(0) == 2  # the escalation moved on and its page was sent
    assert [d.recipient for d in pager.deliveries(incident_id)] == ["dana"]
