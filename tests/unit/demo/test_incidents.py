"""Live monitoring: when the customers' errors fire and clear the alert, and what it posts."""

from __future__ import annotations

import time

from flywheel.demo.incidents import (
    CLEAR_RATIO,
    FIRE_RATIO,
    MIN_REQUESTS,
    ErrorWatch,
    Monitor,
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
