"""Concurrent deliveries of the same new alerts: one alert row and one incident, never two."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flywheel.incident.models import Alert, Incident
from tests.factories import am_alert, am_payload
from tests.integration.incident.conftest import WEBHOOK, Desk

PARALLEL = 12


def _post_all(desk: Desk, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {desk.token}"}
    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(
            pool.map(lambda b: desk.client.post(WEBHOOK, json=b, headers=headers), bodies)
        )
    assert [a.status_code for a in answers] == [200] * len(bodies), [a.text for a in answers]
    return [a.json() for a in answers]


def test_the_same_new_alert_sent_in_parallel_is_stored_once(desk: Desk) -> None:
    body = am_payload(
        am_alert("race-known", instance="web0:9100"),
        am_alert("race-unknown", instance="ghost:9100", service="payments"),
    )
    answers = _post_all(desk, [body] * PARALLEL * 2)
    assert desk.count(Alert) == 2
    assert desk.count(Incident) == 2
    assert sum(a.received for a in desk.alerts()) == 2 * PARALLEL * 2
    opened = [n for a in answers for n in a["incidents_opened"]]
    assert sorted(opened) == sorted(i.number for i in desk.incidents())
    assert sum(a["alerts_new"] for a in answers) == 2


def test_different_new_alerts_of_one_service_in_parallel_open_one_incident(desk: Desk) -> None:
    bodies = [
        am_payload(am_alert(f"svc-{n}", instance=f"ghost{n}:9100", service="payments"))
        for n in range(PARALLEL * 2)
    ]
    answers = _post_all(desk, bodies)
    (incident,) = desk.incidents()
    assert (incident.alert_count, incident.firing_count) == (PARALLEL * 2, PARALLEL * 2)
    assert sum(len(a["incidents_opened"]) for a in answers) == 1
