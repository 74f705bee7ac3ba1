"""Notification channels: one module per channel behind the `Notifier` protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

CHANNELS = ("email", "slack", "webhook")


class DeliveryError(Exception):
    """A send failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Message:
    """What a notification says, whatever the channel."""

    event: str
    incident: str
    incident_id: int
    title: str
    priority: str
    service: str
    text: str
    recipient: str
    incident_url: str = ""
    ack_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """A one-line headline."""
        return f"[{self.priority}] {self.incident} {self.event}: {self.title}"

    def as_dict(self) -> dict[str, Any]:
        """The message as plain JSON-able data."""
        return {
            "event": self.event,
            "incident": self.incident,
            "incident_id": self.incident_id,
            "title": self.title,
            "priority": self.priority,
            "service": self.service,
            "text": self.text,
            "recipient": self.recipient,
            "incident_url": self.incident_url,
            "ack_url": self.ack_url,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        """The message stored by `as_dict`."""
        return cls(**data)


@dataclass(frozen=True)
class Target:
    """Where to send: the channel's address and, for signed webhooks, the shared secret."""

    address: str
    secret: str | None = None


class Notifier(Protocol):
    """Sends a message over one channel; raises DeliveryError when it could not."""

    channel: str

    def send(self, message: Message, target: Target) -> None:
        """Deliver the message to the target, or raise DeliveryError."""
        ...
