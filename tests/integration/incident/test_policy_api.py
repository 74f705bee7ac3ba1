"""Grouping policy from settings, and intake that keeps no state across restarts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from flywheel.app import create_app
from flywheel.config import Settings
from flywheel.db import Database
from tests.factories import am_alert, am_payload
from tests.integration.incident.conftest import WEBHOOK, Desk


@pytest.fixture
def strict(settings: Settings, db: Database) -> Iterator[TestClient]:
    """An app that resolves on the first resolution and calls 3 flips flapping."""
    tuned = settings.model_copy(
        update={
            "incident_resolve_when": "first",
            "incident_flap_flips": 3,
            "incident_reopen_window_seconds": 3600,
        }
    )
    with TestClient(create_app(tuned, db), raise_server_exceptions=False) as client:
        yield client


def _post(client: TestClient, desk: Desk, *alerts: dict[str, object]) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {desk.token}"}
    answer = client.post(WEBHOOK, json=am_payload(*alerts), headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_resolve_when_first_and_flapping_from_settings(desk: Desk, strict: TestClient) -> None:
    _post(strict, desk, am_alert("a", instance="web0"), am_alert("b", instance="web1"))
    done = _post(strict, desk, am_alert("a", "resolved", instance="web0"))
    (incident,) = desk.incidents()
    assert done["incidents_resolved"] == [incident.number]
    _post(strict, desk, am_alert("a", instance="web0"))  # flip 2: reopens
    _post(strict, desk, am_alert("a", "resolved", instance="web0"))  # flip 3: flapping
    (flapping,) = desk.incidents()
    assert (flapping.flapping, flapping.state, flapping.reopen_count) == (True, "triggered", 1)
    for status in ("firing", "resolved", "firing", "resolved"):
        _post(strict, desk, am_alert("a", status, instance="web0"))
    (still,) = desk.incidents()
    assert (still.state, still.reopen_count) == ("triggered", 1)
    assert desk.event_kinds(still.id).count("flapping") == 1


def test_a_resend_after_a_restart_changes_nothing_but_counts(
    desk: Desk, settings: Settings
) -> None:
    body = am_payload(am_alert("a", instance="web0"), am_alert("g", instance="ghost", service="x"))
    desk.send(body)
    before = [(i.id, i.version, i.alert_count) for i in desk.incidents()]
    restarted = Database(settings.resolved_database_url, settings)
    try:
        with TestClient(create_app(settings, restarted)) as client:
            headers = {"Authorization": f"Bearer {desk.token}"}
            again = client.post(WEBHOOK, json=body, headers=headers).json()
    finally:
        restarted.dispose()
    assert (again["alerts_new"], again["incidents_opened"]) == (0, [])
    assert [(i.id, i.version, i.alert_count) for i in desk.incidents()] == before
    assert [a.received for a in desk.alerts()] == [2, 2]
