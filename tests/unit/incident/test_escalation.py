"""Escalation's pure rules, the channels' message shapes, and acknowledge tokens."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from itsdangerous import URLSafeTimedSerializer

from flywheel.config import Settings
from flywheel.incident import escalation, notify_links
from flywheel.incident.notifiers import Message, slack, webhook
from flywheel.incident.notifiers import email as email_channel

Position = escalation.Position


def test_steps_advance_then_repeat_then_end() -> None:
    seen, where = [], Position(0, 0)
    while True:
        seen.append((where.round, where.step))
        following = escalation.after(where, steps=2, repeat=1)
        if following is None:
            break
        where = following
    assert seen == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_a_single_step_without_repeat_ends_at_once() -> None:
    assert escalation.after(Position(0, 0), steps=1, repeat=0) is None


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [escalation.retry_delay_s(n, base_s=10, cap_s=60) for n in range(1, 6)]
    assert delays == [10, 20, 40, 60, 60]
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    assert (escalation.next_attempt(moment, 3, base_s=10, cap_s=60) - moment).seconds == 40


def _message(**extra: str) -> Message:
    base = {
        "event": "opened",
        "incident": "INC0000007",
        "incident_id": 7,
        "title": "checkout down",
        "priority": "P1",
        "service": "checkout",
        "text": "INC0000007 opened on checkout",
        "recipient": "dana",
        "incident_url": "http://fw/api/v1/incidents/7",
        "ack_url": "http://fw/ack/tok",
    }
    return Message(**{**base, **extra})  # type: ignore[arg-type]


def test_slack_payload_has_fallback_text_and_links() -> None:
    body = slack.payload(_message())
    assert body["text"].startswith("[P1] INC0000007 opened: checkout down")
    links = body["blocks"][1]["elements"][0]["text"]
    assert "<http://fw/ack/tok|Acknowledge>" in links


def test_generic_webhook_signature_matches_the_body() -> None:
    message = _message()
    body = json.dumps(webhook.payload(message), sort_keys=True).encode()
    signed = webhook.signature("s3cret-key", body)
    assert signed.startswith("sha256=") and len(signed) == 7 + 64
    assert webhook.signature("other-key", body) != signed
    assert webhook.payload(message)["type"] == "flywheel.incident.notification"


def test_email_carries_the_ack_link() -> None:
    mail = email_channel.compose(_message(), sender="fw@example.org", to="dana@example.org")
    assert mail["Subject"] == "[P1] INC0000007 opened: checkout down"
    assert "Acknowledge: http://fw/ack/tok" in mail.get_content()


def test_resolved_messages_round_trip_as_data() -> None:
    message = _message(event="resolved", ack_url="")
    assert Message.from_dict(message.as_dict()) == message


@pytest.fixture
def settings() -> Settings:
    return Settings(secret_key="unit-secret", public_url="https://fw.example.org/")


def test_ack_token_round_trip(settings: Settings) -> None:
    url = notify_links.ack_url(settings, incident_id=12, username="dana")
    assert url.startswith("https://fw.example.org/ack/")
    grant = notify_links.read_token(settings, url.rsplit("/", 1)[1])
    assert (grant.incident_id, grant.username) == (12, "dana")


def test_forged_and_foreign_tokens_are_refused(settings: Settings) -> None:
    token = notify_links.make_token(settings, incident_id=12, username="dana")
    with pytest.raises(notify_links.AckLinkInvalid, match="not valid"):
        notify_links.read_token(settings, token[:-2] + "xx")
    other = Settings(secret_key="another-install")
    with pytest.raises(notify_links.AckLinkInvalid, match="not valid"):
        notify_links.read_token(other, token)


def test_expired_tokens_are_refused(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    signer = URLSafeTimedSerializer("unit-secret", salt="flywheel.incident.ack")
    old = time.time() - 25 * 3600
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: old)
    token = signer.dumps({"i": 12, "u": "dana"})
    monkeypatch.undo()
    with pytest.raises(notify_links.AckLinkInvalid, match="expired"):
        notify_links.read_token(settings, token)
