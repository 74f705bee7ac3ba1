"""Live monitoring: when the customers' errors fire and clear the alert, and what it posts."""

from __future__ import annotations

import json
import time

import httpx

from flywheel.demo.incidents import (
    CLEAR_RATIO,
    FIRE_RATIO,
    MIN_REQUESTS,
    PROBLEM_HOOKS,
    ErrorWatch,
    Monitor,
    Responder,
    alertmanager_payload,
)
from flywheel.incident.schemas import AlertmanagerPayload


def _seen(watch: ErrorWatch, requests: int, errors: int) -> None:
    now = time.monotonic()
    for n in range(requests):
        watch.record(n < errors, at=now)


def test_the_watch_forgets_what_left_the_window() -> None:
    watch = ErrorWatch(window_s=10)
    watch.record(True, at=time.monotonic() - 30)
    _seen(watch, 10, 1)
    assert watch.ratio() == (10, 0.1)


def test_the_alert_fires_once_on_errors_and_clears_when_they_stop() -> None:
    watch = ErrorWatch()
    monitor = Monitor(watch)
    _seen(watch, MIN_REQUESTS - 1, MIN_REQUESTS - 1)
    assert monitor.verdict() is None  # too little traffic to judge
    _seen(watch, 200, int(200 * FIRE_RATIO) + 2)
    assert monitor.verdict() == "firing"
    assert monitor.verdict() is None  # still firing: nothing new to say
    watch.seen.clear()
    _seen(watch, 1000, int(1000 * CLEAR_RATIO))
    assert monitor.verdict() == "resolved"
    body = monitor.payload("resolved")
    assert body["alerts"][0]["fingerprint"] == "demo-storefront-0001"
    assert monitor.firing_since is None


def test_the_payload_is_what_the_alertmanager_webhook_accepts() -> None:
    watch = ErrorWatch()
    monitor = Monitor(watch)
    _seen(watch, 100, 50)
    assert monitor.verdict() == "firing"
    firing = AlertmanagerPayload.model_validate(monitor.payload("firing"))
    assert firing.alerts[0].labels["service"] == "storefront"
    assert firing.alerts[0].status == "firing"
    started = monitor.firing_since
    assert started is not None
    resolved = AlertmanagerPayload.model_validate(alertmanager_payload("resolved", "f", started))
    assert resolved.alerts[0].endsAt is not None and resolved.alerts[0].endsAt >= started


def _fake_api(suspect_state: str, calls: list[tuple[str, str, object]]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        calls.append((request.method, request.url.path, body))
        if request.url.path == "/incidents/7":
            return httpx.Response(200, json={"id": 7, "state": "triggered", "version": 1})
        if request.url.path == "/incidents/7/suspects":
            suspect = {"deployment_id": 3, "change_id": 9, "version": "1.5.0-faulty"}
            return httpx.Response(200, json=[{**suspect, "state": suspect_state}])
        return httpx.Response(200, json={})

    return httpx.Client(base_url="http://flywheel", transport=httpx.MockTransport(answer))


def test_the_responder_acknowledges_waits_for_the_bake_then_confirms_the_cause() -> None:
    calls: list[tuple[str, str, object]] = []
    seen: list[int] = []
    PROBLEM_HOOKS.append(lambda _client, incident_id: seen.append(incident_id))
    try:
        responder = Responder(_fake_api("running", calls))
        responder.take([7])
        ack = {"version": 1, "note": "on it (demo responder)"}
        assert ("POST", "/incidents/7/ack", ack) in calls
        responder.follow_up(rollback_after_s=60)
        assert not any(path.endswith(("/cause", "/rollback")) for _, path, _ in calls)
        responder.client = _fake_api("rolled_back", calls)
        responder.follow_up(rollback_after_s=60)
    finally:
        PROBLEM_HOOKS.pop()
    cause = [body for _, path, body in calls if path == "/incidents/7/cause"]
    assert cause and cause[0]["change_id"] == 9  # type: ignore[index]
    assert not any(path.endswith("/rollback") for _, path, _ in calls)  # the bake did it
    assert seen == [7] and responder.open == {}


def test_the_responder_rolls_back_a_suspect_the_bake_let_through() -> None:
    calls: list[tuple[str, str, object]] = []
    responder = Responder(_fake_api("succeeded", calls))
    responder.take([7])
    responder.follow_up(rollback_after_s=0)
    rollback = [body for _, path, body in calls if path == "/incidents/7/rollback"]
    assert rollback and rollback[0]["deployment_id"] == 3  # type: ignore[index]
