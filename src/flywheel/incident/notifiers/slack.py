"""Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat): text plus blocks."""

from __future__ import annotations

import json
from typing import Any

from flywheel.incident.notifiers import Message, Target
from flywheel.incident.notifiers.http_post import post_json


def payload(message: Message) -> dict[str, Any]:
    """The Slack message: a `text` fallback and a section block with the links."""
    links = [f"<{message.incident_url}|Open {message.incident}>"] if message.incident_url else []
    if message.ack_url:
        links.append(f"<{message.ack_url}|Acknowledge>")
    body = f"*{message.subject}*\n{message.text}"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": body}}]
    if links:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]}
        )
    return {"text": f"{message.subject}: {message.text}", "blocks": blocks}


class SlackNotifier:
    """Posts Slack-shaped JSON to an incoming-webhook URL."""

    channel = "slack"

    def __init__(self, *, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    def send(self, message: Message, target: Target) -> None:
        """Post the message to the webhook."""
        body = json.dumps(payload(message)).encode()
        post_json(target.address, body, {}, self.timeout_s)
