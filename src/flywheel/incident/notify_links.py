"""Acknowledge links: signed, expiring tokens naming an incident and the person notified."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from flywheel.config import Settings

_SALT = "flywheel.incident.ack"


class AckLinkInvalid(Exception):
    """The token is forged, damaged or expired; the message says which."""


@dataclass(frozen=True)
class AckGrant:
    """What a valid token allows: this user acknowledges this incident."""

    incident_id: int
    username: str


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.resolved_secret_key(), salt=_SALT)


def make_token(settings: Settings, *, incident_id: int, username: str) -> str:
    """A token that lets `username` acknowledge the incident until it expires."""
    return str(_serializer(settings).dumps({"i": incident_id, "u": username}))


def read_token(settings: Settings, token: str) -> AckGrant:
    """The grant a token carries, or AckLinkInvalid."""
    max_age = settings.ack_link_hours * 3600
    try:
        data = _serializer(settings).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise AckLinkInvalid(f"this link expired (links last {settings.ack_link_hours} h)") from exc
    except BadSignature as exc:
        raise AckLinkInvalid("this link is not valid (it was changed or not made here)") from exc
    if not isinstance(data, dict) or not isinstance(data.get("i"), int):
        raise AckLinkInvalid("this link is not valid")
    return AckGrant(int(data["i"]), str(data.get("u", "")))


def base_url(settings: Settings) -> str:
    """Where people reach Flywheel (FLYWHEEL_PUBLIC_URL, else host and port)."""
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def ack_url(settings: Settings, *, incident_id: int, username: str) -> str:
    """The full acknowledge link for a notification."""
    token = make_token(settings, incident_id=incident_id, username=username)
    return f"{base_url(settings)}/ack/{token}"


def incident_url(settings: Settings, incident_id: int) -> str:
    """The incident's page in the console."""
    return f"{base_url(settings)}/incidents/{incident_id}"
