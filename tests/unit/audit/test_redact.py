"""Secret-named fields are redacted before an event is chained."""

from __future__ import annotations

from flywheel.audit.redact import REDACTED, is_secret_name, redacted


def test_secret_names_and_lookalikes() -> None:
    for name in ("password", "token", "access_token", "client_secret", "Webhook-URL", "api_key"):
        assert is_secret_name(name), name
    for name in ("token_id", "tokens", "secretary", "key", "name", "password_changed_at"):
        assert not is_secret_name(name), name


def test_nested_values_are_redacted_and_empty_ones_left() -> None:
    event = {
        "name": "slack",
        "config": {"webhook_url": "https://hooks.example/T0/B0/xyz", "channel": "#ops"},
        "targets": [{"password": "hunter2", "user": "ops"}],
        "token": None,
    }
    assert redacted(event) == {
        "name": "slack",
        "config": {"webhook_url": REDACTED, "channel": "#ops"},
        "targets": [{"password": REDACTED, "user": "ops"}],
        "token": None,
    }
