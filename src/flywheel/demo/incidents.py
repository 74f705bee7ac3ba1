"""Live incidents: monitoring that sees the customers' errors, and a responder who acts.

The monitor posts alerts as Prometheus Alertmanager would (its webhook, an integration
token), so the incident opens through the real intake with its impact; the responder
acknowledges it, lets the bake roll back the suspect deployment (or rolls it back), confirms
the cause and hands the incident to the problem hooks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

log = logging.getLogger("flywheel.demo")
FIRE_RATIO, CLEAR_RATIO, MIN_REQUESTS = 0.01, 0.002, 20
WINDOW_S = 10.0
NEVER = "0001-01-01T00:00:00Z"
ACTIVE = ("pending", "running", "paused", "rolling_back")

# Called with (responder's API client, incident id) once an incident's cause is confirmed.
# The problem domain registers a hook here to suggest a problem for recurring causes.
ProblemHook = Callable[[httpx.Client, int], None]
PROBLEM_HOOKS: list[ProblemHook] = []


@dataclass
class ErrorWatch:
    """What the customers saw lately: (when, failed) per request, thread-safe."""

    window_s: float = WINDOW_S
    seen: deque[tuple[float, bool]] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, failed: bool, at: float | None = None) -> None:
        """One request's outcome."""
        with self.lock:
            self.seen.append((time.monotonic() if at is None else at, failed))

    def ratio(self, now: float | None = None) -> tuple[int, float]:
        """(requests, error ratio) over the window."""
        now = time.monotonic() if now is None else now
        with self.lock:
            while self.seen and self.seen[0][0] < now - self.window_s:
                self.seen.popleft()
            total = len(self.seen)
            failed = sum(1 for _, bad in self.seen if bad)
        return total, failed / total if total else 0.0


def alertmanager_payload(status: str, fingerprint: str, started: datetime) -> dict[str, Any]:
    """A version-4 Alertmanager webhook body for the storefront's error-rate alert."""
    ended = datetime.now(UTC).isoformat() if status == "resolved" else NEVER
    alert = {
        "status": status,
        "labels": {
            "alertname": "StorefrontErrorRate",
            "service": "storefront",
            "severity": "critical",
        },
        "annotations": {"summary": "Storefront answers 5xx to more than 1 % of customers"},
        "startsAt": started.isoformat(),
        "endsAt": ended,
        "fingerprint": fingerprint,
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="StorefrontErrorRate"}',
        "status": status,
        "receiver": "flywheel",
        "alerts": [alert],
    }


@dataclass
class Monitor:
    """Decides when the error ratio fires or clears the alert (pure but for the clock)."""

    watch: ErrorWatch
    firing_since: datetime | None = None
    episode: int = 0

    def verdict(self) -> str | None:
        """'firing' or 'resolved' when the alert changes; None otherwise."""
        total, ratio = self.watch.ratio()
        if self.firing_since is None and total >= MIN_REQUESTS and ratio >= FIRE_RATIO:
            self.firing_since, self.episode = datetime.now(UTC), self.episode + 1
            return "firing"
        if self.firing_since is not None and total >= MIN_REQUESTS and ratio <= CLEAR_RATIO:
            return "resolved"
        return None

    def payload(self, status: str) -> dict[str, Any]:
        """The webhook body for this episode; a resolved one ends the episode."""
        started = self.firing_since or datetime.now(UTC)
        body = alertmanager_payload(status, f"demo-storefront-{self.episode:04d}", started)
        if status == "resolved":
            self.firing_since = None
        return body


@dataclass
class Responder:
    """An operator on call: acknowledge, find the suspect, see it rolled back, confirm it."""

    client: httpx.Client
    open: dict[int, float] = field(default_factory=dict)  # incident id → when it was seen

    def take(self, incident_ids: list[int]) -> None:
        """Acknowledge newly opened incidents."""
        for incident_id in incident_ids:
            incident = self.client.get(f"/incidents/{incident_id}").json()
            if incident.get("state") == "triggered":
                self.client.post(
                    f"/incidents/{incident_id}/ack",
                    json={"version": incident["version"], "note": "on it (demo responder)"},
                )
            self.open[incident_id] = time.monotonic()

    def follow_up(self, rollback_after_s: float) -> None:
        """For each incident taken: roll back a suspect the bake let through; confirm causes."""
        for incident_id in list(self.open):
            suspects = self.client.get(f"/incidents/{incident_id}/suspects").json()
            top = suspects[0] if suspects else None
            if top is None:
                self.open.pop(incident_id)
                continue
            if top["state"] in ACTIVE:
                continue  # the bake is judging it: it rolls back on its own
            waited = time.monotonic() - self.open[incident_id]
            if top["state"] == "succeeded" and waited > rollback_after_s:
                self.client.post(
                    f"/incidents/{incident_id}/rollback",
                    json={"deployment_id": top["deployment_id"], "reason": "errors since deploy"},
                )
            if top["state"] in ("rolled_back", "failed") or waited > rollback_after_s:
                self._confirm(incident_id, top)

    def _confirm(self, incident_id: int, top: dict[str, Any]) -> None:
        self.open.pop(incident_id, None)
        if top.get("change_id"):
            note = f"{top['version']} answered 5xx; deployment {top['deployment_id']} undone"
            self.client.post(
                f"/incidents/{incident_id}/cause",
                json={"change_id": top["change_id"], "note": note},
            )
        for hook in PROBLEM_HOOKS:
            hook(self.client, incident_id)


@dataclass
class LiveIncidents:
    """Monitoring and a responder, checked every few seconds by the scenario."""

    url: str
    integration_token: str
    responder_token: str
    watch: ErrorWatch
    rollback_after_s: float = 60.0
    monitor: Monitor = field(init=False)

    def __post_init__(self) -> None:
        self.monitor = Monitor(self.watch)

    def _client(self, token: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=30)

    def run_forever(self, stopping: threading.Event, every_s: float = 2.0) -> None:
        """Check until told to stop; errors are logged, never fatal."""
        with (
            self._client(self.integration_token) as alerts,
            self._client(self.responder_token) as api,
        ):
            responder = Responder(api)
            while not stopping.wait(every_s):
                try:
                    self.tick(alerts, responder)
                except httpx.HTTPError as exc:
                    log.warning("demo monitoring: %s", exc)

    def tick(self, alerts: httpx.Client, responder: Responder) -> None:
        """Post an alert when the verdict changes; let the responder act."""
        status = self.monitor.verdict()
        if status is not None:
            answer = alerts.post("/integrations/alertmanager", json=self.monitor.payload(status))
            answer.raise_for_status()
            opened = [int(n.removeprefix("INC")) for n in answer.json()["incidents_opened"]]
            log.info("demo monitoring: alert %s, incidents opened %s", status, opened)
            responder.take(opened)
        responder.follow_up(self.rollback_after_s)
