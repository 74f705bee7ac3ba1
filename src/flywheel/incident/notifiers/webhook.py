"""Generic JSON webhooks, optionally signed: `X-Flywheel-Signature: sha256=<hex HMAC of body>`."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from flywheel.incident.notifiers import Message, Target
from flywheel.incident.notifiers.http_post import post_json

SIGNATURE_HEADER = "X-Flywheel-Signature"


def payload(message: Message) -> dict[str, Any]:
    """The generic body: the whole message under a schema name."""
    return {"type": "flywheel.incident.notification", "version": 1, **message.as_dict()}


def signature(secret: str, body: bytes) -> str:
    """The header value a receiver recomputes to check the body came from us."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """Posts the message as JSON, signing the body when the contact has a secret."""

    channel = "webhook"

    def __init__(self, *, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    def send(self, message: Message, target: Target) -> None:
        """Post the message to the webhook."""
        body = json.dumps(payload(message), sort_keys=True).encode()
        headers = {SIGNATURE_HEADER: signature(target.secret, body)} if target.secret else {}
        post_json(target.address, body, headers, self.timeout_s)
