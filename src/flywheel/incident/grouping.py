"""Deduplication, grouping, auto-resolution, reopening and flapping of one batch (pure).

Given the alerts of a batch, what is stored about them already, and the incidents they
may join (each service's newest incident — its "head" — and the incidents the stored
alerts belong to), `decide` works out what changes: which incident each alert belongs
to, which incidents open, reopen, resolve or start flapping, and the timeline entries.

Rules, with the windows of `Policy`:
- Only a change to *firing* (a new firing alert, or a resolved one firing again) can
  open, join or reopen an incident; a re-sent alert that still fires only refreshes it.
- A firing alert joins its service's open incident when that incident had alert
  activity within `group_window`; it reopens the service's resolved incident when that
  was resolved within `reopen_window`; otherwise it opens a new incident.
- An alert that flips status `flap_flips` times within `flap_window` is flapping: its
  incident is flagged, stays open (it no longer resolves by itself: a responder resolves
  it) and the alert never opens a new incident — it reopens its own.
- An open incident resolves by itself when its alerts resolve: `all` of them (default),
  the `first` one, or the `last` one that joined it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from flywheel.incident.incoming import AlertStatus, Incoming

FIRING, RESOLVED = AlertStatus.FIRING, AlertStatus.RESOLVED
# Re-sends mark an incident active at this granularity (the group window is measured
# against it): a storm of re-sends writes the incident row once per step, not per batch.
ACTIVITY_STEP = timedelta(seconds=30)


class IncidentState(StrEnum):
    """Where an incident is in its response."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ResolveWhen(StrEnum):
    """Which alert resolution resolves the incident."""

    FIRST = "first"
    LAST = "last"
    ALL = "all"


@dataclass(frozen=True)
class Policy:
    """The windows and thresholds of grouping."""

    group_window: timedelta = timedelta(hours=1)
    reopen_window: timedelta = timedelta(minutes=30)
    resolve_when: ResolveWhen = ResolveWhen.ALL
    flap_flips: int = 6
    flap_window: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class StoredAlert:
    """What is stored about an alert before this batch."""

    status: AlertStatus
    incident_id: int | None
    flips: int
    flip_window_start: datetime | None
    alert_id: int = 0
    digest: str = ""


@dataclass
class Group:
    """An incident as this batch sees and changes it; `ref` < 0 for one opened now."""

    ref: int
    service: str
    state: IncidentState
    title: str
    opened_at: datetime
    last_alert_at: datetime | None
    resolved_at: datetime | None
    flapping: bool
    firing_count: int
    last_fingerprint: str | None
    urgency: int
    ci_keys: list[str]
    service_known: bool
    resolved_by: str | None = None
    priority: int = 4
    impact_level: int = 2
    impact: dict[str, Any] | None = None
    alerts_added: int = 0
    firing_delta: int = 0
    touched: bool = False
    changes: list[str] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """Whether the incident is triggered or acknowledged."""
        return self.state is not IncidentState.RESOLVED

    @property
    def is_new(self) -> bool:
        """Whether this batch opened it."""
        return self.ref < 0


@dataclass
class AlertOutcome:
    """What to store for one alert of the batch."""

    alert: Incoming
    incident_ref: int | None
    flips: int
    flip_window_start: datetime | None
    is_new: bool


@dataclass(frozen=True)
class TimelineEntry:
    """One line for an incident's timeline."""

    incident_ref: int
    kind: str
    summary: str
    data: dict[str, Any] | None = None


@dataclass
class Plan:
    """Everything one batch changes."""

    alerts: list[AlertOutcome] = field(default_factory=list)
    groups: dict[int, Group] = field(default_factory=dict)
    heads: dict[str, int] = field(default_factory=dict)
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def touched(self) -> list[Group]:
        """The incidents this batch changed: new ones in the order they opened, then the rest."""
        order = sorted(self.groups, key=lambda ref: (ref > 0, abs(ref)))
        return [self.groups[ref] for ref in order if self.groups[ref].touched]


class _Decider:
    def __init__(
        self,
        *,
        heads: dict[str, Group | None],
        incidents: dict[int, Group],
        policy: Policy,
        now: datetime,
        resolver: str,
    ) -> None:
        self.policy = policy
        self.now = now
        self.resolver = resolver
        self.heads = dict(heads)
        self.plan = Plan(groups=dict(incidents))
        for head in heads.values():
            if head is not None:
                self.plan.groups[head.ref] = head
        self.next_ref = -1

    def apply(self, alert: Incoming, stored: StoredAlert | None) -> None:
        if stored is None:
            self._new_alert(alert)
            return
        group = self.plan.groups.get(stored.incident_id) if stored.incident_id else None
        if stored.status == alert.status:
            self._unchanged(alert, stored, group)
            return
        flips, window_start = self._flip(stored)
        flapping = flips >= self.policy.flap_flips
        if alert.status is FIRING:
            group = self._refire(alert, group, flapping)
        elif group is not None:
            self._resolve_alert(alert, group, flapping)
        self.plan.alerts.append(
            AlertOutcome(alert, group.ref if group else None, flips, window_start, False)
        )

    def _flip(self, stored: StoredAlert) -> tuple[int, datetime]:
        start = stored.flip_window_start
        if start is None or self.now - start > self.policy.flap_window:
            return 1, self.now
        return stored.flips + 1, start

    def _new_alert(self, alert: Incoming) -> None:
        group: Group | None
        if alert.status is FIRING:
            group = self._place(alert)
            self._join(group, alert, firing=True, kind="alert.firing")
        else:
            # A resolved alert never seen firing (sent while Flywheel was down): kept, and
            # shown on the service's open incident if there is one.
            head = self.heads.get(alert.group_key)
            group = head if head is not None and head.is_open else None
            if group is not None:
                self._join(group, alert, firing=False, kind="alert.resolved")
        self.plan.alerts.append(AlertOutcome(alert, group.ref if group else None, 0, None, True))

    def _unchanged(self, alert: Incoming, stored: StoredAlert, group: Group | None) -> None:
        if group is not None and alert.status is FIRING and group.is_open:
            last = group.last_alert_at
            if last is None or self.now - last >= ACTIVITY_STEP:
                group.last_alert_at = self.now
                group.touched = True
        self.plan.alerts.append(
            AlertOutcome(
                alert,
                stored.incident_id,
                stored.flips,
                stored.flip_window_start,
                False,
            )
        )

    def _refire(self, alert: Incoming, group: Group | None, flapping: bool) -> Group:
        previous = group
        if group is not None and flapping:
            self._mark_flapping(group, alert)
            if not group.is_open:
                self._reopen(group, alert)
        elif group is None or not group.is_open:
            group = self._place(alert)
        kind = "alert.refired" if group is previous else "alert.firing"
        self._join(group, alert, firing=True, kind=kind)
        return group

    def _resolve_alert(self, alert: Incoming, group: Group, flapping: bool) -> None:
        group.firing_count -= 1
        group.firing_delta -= 1
        group.touched = True
        self._timeline(group, "alert.resolved", f"{alert.alertname} resolved", alert)
        if flapping:
            self._mark_flapping(group, alert)
        if not group.is_open or group.flapping:
            return
        when = self.policy.resolve_when
        if (
            (when is ResolveWhen.ALL and group.firing_count <= 0)
            or when is ResolveWhen.FIRST
            or (when is ResolveWhen.LAST and group.last_fingerprint == alert.fingerprint)
        ):
            group.state = IncidentState.RESOLVED
            group.resolved_at, group.resolved_by = self.now, self.resolver
            group.changes.append("resolved")
            self._timeline(
                group, "resolved", f"resolved: its alerts resolved ({when.value})", alert
            )

    def _place(self, alert: Incoming) -> Group:
        """The incident a firing alert goes to: join, reopen, or open anew."""
        head = self.heads.get(alert.group_key)
        if head is not None and head.is_open:
            active = head.last_alert_at or head.opened_at
            if head.flapping or self.now - active <= self.policy.group_window:
                return head
        elif (
            head is not None
            and head.resolved_at is not None
            and self.now - head.resolved_at <= self.policy.reopen_window
        ):
            self._reopen(head, alert)
            return head
        return self._open(alert)

    def _open(self, alert: Incoming) -> Group:
        group = Group(
            ref=self.next_ref,
            service=alert.group_key,
            state=IncidentState.TRIGGERED,
            title=f"{alert.alertname} on {alert.group_key}"[:300],
            opened_at=self.now,
            last_alert_at=None,
            resolved_at=None,
            flapping=False,
            firing_count=0,
            last_fingerprint=None,
            urgency=alert.urgency,
            ci_keys=[],
            service_known=alert.service_known,
            changes=["opened"],
        )
        self.next_ref -= 1
        self.plan.groups[group.ref] = group
        self.plan.heads[alert.group_key] = group.ref
        self.heads[alert.group_key] = group
        self._timeline(group, "opened", f"opened by {alert.alertname}: {alert.summary}", alert)
        return group

    def _reopen(self, group: Group, alert: Incoming) -> None:
        group.state = IncidentState.TRIGGERED
        group.resolved_at = group.resolved_by = None
        group.changes.append("reopened")
        group.touched = True
        self._timeline(group, "reopened", f"reopened: {alert.alertname} fires again", alert)

    def _mark_flapping(self, group: Group, alert: Incoming) -> None:
        if group.flapping:
            return
        group.flapping = True
        group.touched = True
        group.changes.append("flapping")
        flips = self.policy.flap_flips
        minutes = int(self.policy.flap_window.total_seconds() // 60)
        summary = f"flapping: {alert.alertname} changed status {flips} times in {minutes} min"
        self._timeline(group, "flapping", summary, alert)

    def _join(self, group: Group, alert: Incoming, *, firing: bool, kind: str) -> None:
        group.touched = True
        group.alerts_added += 1 if kind != "alert.refired" else 0
        if firing:
            group.firing_count += 1
            group.firing_delta += 1
            group.last_fingerprint = alert.fingerprint
            group.last_alert_at = self.now
            if alert.urgency < group.urgency:
                group.urgency = alert.urgency
                group.changes.append("urgency")
        if alert.ci_key and not alert.ci_unknown and alert.ci_key not in group.ci_keys:
            group.ci_keys.append(alert.ci_key)
            group.changes.append("cis")
        verb = "fires" if firing else "resolved"
        self._timeline(group, kind, f"{alert.alertname} {verb}: {alert.summary}", alert)

    def _timeline(self, group: Group, kind: str, summary: str, alert: Incoming) -> None:
        data = {"fingerprint": alert.fingerprint, "alertname": alert.alertname}
        if alert.ci_key:
            data["ci"] = alert.ci_key
        self.plan.timeline.append(TimelineEntry(group.ref, kind, summary[:2000], data))


def decide(
    alerts: list[Incoming],
    *,
    stored: dict[str, StoredAlert],
    heads: dict[str, Group | None],
    incidents: dict[int, Group],
    policy: Policy,
    now: datetime,
    resolver: str,
) -> Plan:
    """What one batch of (deduplicated) alerts changes; `resolver` names who resolves."""
    decider = _Decider(heads=heads, incidents=incidents, policy=policy, now=now, resolver=resolver)
    for alert in alerts:
        decider.apply(alert, stored.get(alert.fingerprint))
    return decider.plan
