"""Incoming alerts made uniform: fingerprint, status, urgency, times, CI candidates (pure).

Time policy: a timestamp without a time zone is refused at the API (422 naming the
field) — guessing its zone would put the alert hours off. A `starts_at` (or the `ends_at`
of a resolved alert) further in the future than CLOCK_SKEW is set to the time Flywheel
received it and the alert is flagged (`starts_at_in_future`, `ends_at_in_future`): the
sender's clock is wrong, but the alert is real and must not be lost. Alertmanager's zero
time (`0001-01-01T00:00:00Z`, "no end yet") means no `ends_at`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from flywheel.incident.cirules import CIRule, candidates

CLOCK_SKEW = timedelta(minutes=5)
SUMMARY_LENGTH = 500


class AlertStatus(StrEnum):
    """Whether the condition holds."""

    FIRING = "firing"
    RESOLVED = "resolved"


class Urgency:
    """How fast someone must act: 1 high, 2 medium, 3 low."""

    HIGH, MEDIUM, LOW = 1, 2, 3


# Severity label values (lower-cased) and the urgency they carry; anything else is medium.
SEVERITY_URGENCY = {
    "critical": Urgency.HIGH,
    "fatal": Urgency.HIGH,
    "emergency": Urgency.HIGH,
    "page": Urgency.HIGH,
    "error": Urgency.MEDIUM,
    "major": Urgency.MEDIUM,
    "warning": Urgency.MEDIUM,
    "warn": Urgency.MEDIUM,
    "info": Urgency.LOW,
    "informational": Urgency.LOW,
    "minor": Urgency.LOW,
    "low": Urgency.LOW,
    "none": Urgency.LOW,
}


def urgency_of(severity: str) -> int:
    """The urgency an alert's severity carries (medium when unknown or missing)."""
    return SEVERITY_URGENCY.get(severity.strip().lower(), Urgency.MEDIUM)


@dataclass
class Incoming:
    """One alert as received, normalised; CI fields are filled in by the directory."""

    fingerprint: str
    status: AlertStatus
    alertname: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str | None
    candidates: list[str]
    flags: list[str] = field(default_factory=list)
    received: int = 1
    ci_key: str | None = None
    ci_unknown: bool = True
    group_key: str = ""
    service_known: bool = False

    @property
    def urgency(self) -> int:
        """How urgent the alert is, from its severity."""
        return urgency_of(self.severity)

    @property
    def summary(self) -> str:
        """A line for people: the summary or description annotation, else the alert name."""
        text = self.annotations.get("summary") or self.annotations.get("description") or ""
        return (text or self.alertname)[:SUMMARY_LENGTH]


def derive_fingerprint(labels: Mapping[str, str]) -> str:
    """A stable fingerprint of a label set (16 hex digits, like Alertmanager's)."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _normalise_times(
    starts_at: datetime, ends_at: datetime | None, status: AlertStatus, now: datetime
) -> tuple[datetime, datetime | None, list[str]]:
    flags = []
    if ends_at is not None and ends_at.year <= 1:
        ends_at = None
    if starts_at > now + CLOCK_SKEW:
        starts_at = now
        flags.append("starts_at_in_future")
    if status is AlertStatus.RESOLVED and ends_at is not None and ends_at > now + CLOCK_SKEW:
        ends_at = now
        flags.append("ends_at_in_future")
    if ends_at is not None and ends_at < starts_at:
        ends_at = starts_at
        flags.append("ends_at_before_starts_at")
    return starts_at, ends_at, flags


def normalise(
    *,
    status: AlertStatus,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    starts_at: datetime | None,
    ends_at: datetime | None,
    fingerprint: str | None,
    severity: str | None,
    generator_url: str | None,
    rules: list[CIRule],
    now: datetime,
) -> Incoming:
    """One received alert in Flywheel's terms."""
    start, end, flags = _normalise_times(starts_at or now, ends_at, status, now)
    return Incoming(
        fingerprint=fingerprint or derive_fingerprint(labels),
        status=status,
        alertname=labels.get("alertname", "") or "unnamed alert",
        severity=(severity or labels.get("severity") or "").strip().lower() or "unknown",
        labels=dict(labels),
        annotations=dict(annotations),
        starts_at=start,
        ends_at=end,
        generator_url=generator_url or None,
        candidates=candidates(rules, labels),
        flags=flags,
    )


def deduplicate(alerts: list[Incoming]) -> list[Incoming]:
    """One entry per fingerprint, the last one sent winning; `received` counts them all."""
    latest: dict[str, Incoming] = {}
    counts: dict[str, int] = {}
    for alert in alerts:
        latest.pop(alert.fingerprint, None)
        latest[alert.fingerprint] = alert
        counts[alert.fingerprint] = counts.get(alert.fingerprint, 0) + 1
    for fingerprint, alert in latest.items():
        alert.received = counts[fingerprint]
    return list(latest.values())
