"""Escalation policies, contact methods, deliveries and the acknowledge link over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from flywheel.audit.models import AuditEvent
from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.incident import notify_links, notify_service
from flywheel.incident.notifiers import DeliveryError, Message, Target
from tests.factories import make_person
from tests.integration.incident.conftest import Desk
from tests.integration.incident.notify_support import smtp_server, webhook_server
from tests.integration.incident.pager import POLICIES, Pager, make_pager

STEP = {"targets": [{"kind": "schedule", "ref": "web"}], "wait_minutes": 5}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The suite's settings with the background worker off: tests drive it."""
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        secret_key="test-secret",
        work_database_url=f"sqlite:///{tmp_path}/work.sqlite",
        notify_worker_interval_s=0,
        notify_timeout_s=2,
        public_url="http://flywheel.test",
    )


@pytest.fixture
def pager(desk: Desk, settings: Settings) -> Pager:
    dana = make_person(desk.db, Role.OPERATOR, username="dana")
    erik = make_person(desk.db, Role.AUDITOR, username="erik")
    return make_pager(desk, settings, dana, erik)


def test_policy_versions_conflict_and_bad_targets(pager: Pager) -> None:
    client, headers = pager.desk.client, pager.desk.admin.headers
    body = {"key": "web", "name": "Web", "services": ["checkout"], "steps": [STEP]}
    made = client.post(POLICIES, json=body, headers=headers)
    assert made.status_code == 201 and made.json()["version"] == 1
    assert client.post(POLICIES, json=body, headers=headers).status_code == 409
    update = {"name": "Web v2", "services": ["checkout"], "repeat": 1, "steps": [STEP]}
    changed = client.put(f"{POLICIES}/web", json={**update, "version": 1}, headers=headers)
    assert changed.status_code == 200 and changed.json()["version"] == 2
    stale = client.put(f"{POLICIES}/web", json={**update, "version": 1}, headers=headers)
    assert stale.status_code == 409 and "version 2" in stale.json()["error"]["message"]
    ghost = {
        **body,
        "key": "ghost",
        "services": [],
        "steps": [{"targets": [{"kind": "user", "ref": "nobody"}]}],
    }
    refused = client.post(POLICIES, json=ghost, headers=headers)
    assert refused.status_code == 422 and "step 1" in refused.json()["error"]["message"]
    taken = {**body, "key": "other"}
    assert client.post(POLICIES, json=taken, headers=headers).status_code == 409
    empty = client.post(POLICIES, json={**body, "key": "e", "steps": []}, headers=headers)
    assert empty.status_code == 422
    assert client.delete(f"{POLICIES}/web?version=1", headers=headers).status_code == 409
    assert client.delete(f"{POLICIES}/web?version=2", headers=headers).status_code == 204
    assert client.get(f"{POLICIES}/web", headers=headers).status_code == 404
    with pager.desk.db.session() as session:
        actions = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "escalation_policy")
            .order_by(AuditEvent.seq)
        )
        assert list(actions) == [
            "escalation.policy.create",
            "escalation.policy.update",
            "escalation.policy.delete",
        ]


def test_contact_methods_are_checked(pager: Pager) -> None:
    client, headers = pager.desk.client, pager.desk.admin.headers
    url = "/api/v1/users/dana/contact-methods"
    bad_mail = client.post(url, json={"channel": "email", "address": "not-mail"}, headers=headers)
    assert bad_mail.status_code == 422
    bad_url = {"channel": "slack", "address": "ftp://x.example.org"}
    assert client.post(url, json=bad_url, headers=headers).status_code == 422
    signed_mail = {"channel": "email", "address": "d@example.org", "secret": "12345678"}
    assert client.post(url, json=signed_mail, headers=headers).status_code == 422
    good = {"channel": "webhook", "address": "https://hooks.example.org/d", "secret": "k" * 16}
    made = client.post(url, json=good, headers=headers)
    assert made.status_code == 201 and made.json()["signed"] is True
    assert "secret" not in made.json()
    with pager.desk.db.engine.connect() as conn:
        stored = conn.execute(text("SELECT secret FROM contact_methods")).scalar_one()
    assert stored.startswith("fwenc1:") and "k" * 16 not in stored  # encrypted at rest
    assert client.post(url, json=good, headers=headers).status_code == 409
    unknown = client.post("/api/v1/users/ghost/contact-methods", json=good, headers=headers)
    assert unknown.status_code == 404
    assert [c["address"] for c in client.get(url, headers=headers).json()] == [good["address"]]
    removed = client.delete(f"{url}/{made.json()['id']}", headers=headers)
    assert removed.status_code == 204 and client.get(url, headers=headers).json() == []


def test_deliveries_listed_by_incident_and_retried_now(pager: Pager) -> None:
    with webhook_server(status=500) as hook:
        pager.contact("dana", "webhook", hook.url())
        pager.policy(steps=[STEP])
        incident_id = pager.fire()
        pager.tick(0)
    client, headers = pager.desk.client, pager.desk.admin.headers
    listed = client.get(f"/api/v1/notifications?incident={incident_id}", headers=headers).json()
    (item,) = listed["items"]
    assert (item["status"], item["attempts"], item["last_error"]) == ("pending", 1, "HTTP 500")
    assert client.get("/api/v1/notifications?incident=999999", headers=headers).status_code == 404
    assert client.get("/api/v1/notifications?status=bogus", headers=headers).status_code == 422
    retried = client.post(f"/api/v1/notifications/{item['id']}/retry", headers=headers)
    assert retried.status_code == 200
    with webhook_server() as hook:
        with pager.desk.db.session(write=True) as session:
            row = notify_service.get_delivery(session, delivery_id=item["id"])
            row.address = hook.url()
            session.commit()
        pager.tick(0.05)
        assert len(hook.received) == 1
    sent = client.get(f"/api/v1/notifications/{item['id']}", headers=headers).json()
    assert sent["status"] == "sent"
    again = client.post(f"/api/v1/notifications/{item['id']}/retry", headers=headers)
    assert again.status_code == 409
    escalation = client.get(f"/api/v1/incidents/{incident_id}/escalation", headers=headers)
    assert escalation.json()["notified"] == ["user:dana"]


def test_ack_link_end_to_end(pager: Pager, settings: Settings) -> None:
    with webhook_server() as hook:
        pager.contact("dana", "webhook", hook.url())
        pager.policy(steps=[STEP])
        incident_id = pager.fire()
        pager.tick(0)
        ack_url = hook.received[0].json["ack_url"]
    path = ack_url.removeprefix("http://flywheel.test")
    client = pager.desk.client
    page = client.get(path)
    assert page.status_code == 200 and "Acknowledge as <strong>dana</strong>" in page.text
    assert pager.desk.incidents()[-1].state == "triggered"  # looking changes nothing
    done = client.post(path)
    assert done.status_code == 200 and "acknowledged by dana" in done.text
    incident = pager.desk.incidents()[-1]
    assert (incident.state, incident.acknowledged_by) == ("acknowledged", "dana")
    twice = client.post(path)
    assert twice.status_code == 409 and "already acknowledged" in twice.text
    with pager.desk.db.session() as session:
        audited = session.scalar(
            select(AuditEvent.actor).where(AuditEvent.action == "incident.acknowledge")
        )
    assert audited == "dana"
    assert client.get(path[:-3] + "abc").status_code == 400
    assert client.post(path[:-3] + "abc").status_code == 400
    pager.tick(1)
    assert pager.escalation(incident_id).state == "acknowledged"


def test_ack_link_needs_a_responder(pager: Pager, settings: Settings) -> None:
    pager.policy(steps=[STEP])
    incident_id = pager.fire()
    token = notify_links.make_token(settings, incident_id=incident_id, username="erik")
    refused = pager.desk.client.post(f"/ack/{token}")
    assert refused.status_code == 403
    assert pager.desk.incidents()[-1].state == "triggered"


def test_email_reaches_a_real_smtp_server(pager: Pager, settings: Settings) -> None:
    with smtp_server() as (port, mails):
        live = Settings(**{**settings.model_dump(), "smtp_host": "127.0.0.1", "smtp_port": port})
        pager.settings = live
        pager.contact("dana", "email", "dana@example.org")
        pager.policy(steps=[STEP])
        incident_id = pager.fire()
        pager.tick(0)
    ((sender, recipients, mail),) = mails
    assert (sender, recipients) == ("flywheel@localhost", ["dana@example.org"])
    assert mail["Subject"].endswith(
        f"INC{incident_id:07d} opened: " + pager.desk.incidents()[-1].title
    )
    body = mail.get_payload(decode=True).decode()
    assert "Acknowledge: http://flywheel.test/ack/" in body
    assert pager.timeline(incident_id, "notification") == ["notified dana by email (opened)"]


def test_smtp_down_is_retried(pager: Pager, settings: Settings) -> None:
    notifier = notify_service.notifiers_for(
        Settings(**{**settings.model_dump(), "smtp_host": "127.0.0.1", "smtp_port": 9})
    )["email"]
    message = Message("opened", "INC1", 1, "t", "P1", "svc", "text", "dana")
    with pytest.raises(DeliveryError, match="SMTP") as caught:
        notifier.send(message, Target("dana@example.org"))
    assert caught.value.retryable is True
