"""Grouping, auto-resolution, reopening and flapping across batches, with an in-memory store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from flywheel.incident.cirules import DEFAULT_RULES, parse_rules
from flywheel.incident.directory import assign
from flywheel.incident.grouping import (
    Group,
    IncidentState,
    Plan,
    Policy,
    ResolveWhen,
    StoredAlert,
    decide,
)
from flywheel.incident.incoming import AlertStatus, Incoming, deduplicate, normalise

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIRING, RESOLVED = AlertStatus.FIRING, AlertStatus.RESOLVED


def alert(
    fp: str, status: AlertStatus = FIRING, service: str = "shop", sev: str = "warning"
) -> Incoming:
    return normalise(
        status=status,
        labels={"alertname": f"A-{fp}", "service": service, "severity": sev},
        annotations={},
        starts_at=T0,
        ends_at=None,
        fingerprint=fp,
        severity=None,
        generator_url=None,
        rules=parse_rules(DEFAULT_RULES),
        now=T0,
    )


class Store:
    """What the database would hold between batches."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self.alerts: dict[str, StoredAlert] = {}
        self.incidents: dict[int, Group] = {}
        self.heads: dict[str, int] = {}
        self.kinds: list[tuple[int, str]] = []

    def send(self, *alerts: Incoming, at: datetime = T0) -> Plan:
        batch = deduplicate(list(alerts))
        assign(batch, {})
        heads = {a.group_key: self._copy(self.heads.get(a.group_key)) for a in batch}
        wanted = {s.incident_id for s in self.alerts.values() if s.incident_id}
        incidents = {i: g for i in wanted if (g := self._copy(i)) is not None}
        plan = decide(
            batch,
            stored=dict(self.alerts),
            heads=heads,
            incidents=incidents,
            policy=self.policy,
            now=at,
            resolver="test",
        )
        ids = {}
        for group in plan.touched:
            ids[group.ref] = len(self.incidents) + 1 if group.is_new else group.ref
            self.incidents[ids[group.ref]] = replace(
                group, ref=ids[group.ref], changes=[], alerts_added=0, firing_delta=0, touched=False
            )
        for service, ref in plan.heads.items():
            self.heads[service] = ids[ref]
        for o in plan.alerts:
            incident = ids.get(o.incident_ref, o.incident_ref) if o.incident_ref else None
            self.alerts[o.alert.fingerprint] = StoredAlert(
                o.alert.status, incident, o.flips, o.flip_window_start
            )
        self.kinds += [(ids.get(e.incident_ref, e.incident_ref), e.kind) for e in plan.timeline]
        return plan

    def _copy(self, incident_id: int | None) -> Group | None:
        if incident_id is None:
            return None
        group = self.incidents[incident_id]
        return replace(group, ci_keys=list(group.ci_keys), changes=[])

    def state(self, incident_id: int) -> IncidentState:
        return self.incidents[incident_id].state


def test_alerts_of_one_service_open_one_incident_and_resends_change_nothing() -> None:
    store = Store()
    plan = store.send(alert("a"), alert("b"), alert("c", service="other"))
    assert [g.service for g in plan.touched] == ["shop", "other"]
    again = store.send(alert("a"), alert("b"), at=T0 + timedelta(minutes=5))
    assert [g.changes for g in again.touched] == [[]]
    assert again.timeline == []
    assert len(store.incidents) == 2
    assert store.incidents[1].firing_count == 2


def test_an_incident_resolves_when_all_alerts_resolve_by_default() -> None:
    store = Store()
    store.send(alert("a"), alert("b"))
    store.send(alert("a", RESOLVED))
    assert store.state(1) is IncidentState.TRIGGERED
    store.send(alert("b", RESOLVED))
    assert store.state(1) is IncidentState.RESOLVED
    assert store.incidents[1].resolved_by == "test"


def test_resolve_when_first_or_last() -> None:
    first = Store(Policy(resolve_when=ResolveWhen.FIRST))
    first.send(alert("a"), alert("b"))
    first.send(alert("b", RESOLVED))
    assert first.state(1) is IncidentState.RESOLVED

    last = Store(Policy(resolve_when=ResolveWhen.LAST))
    last.send(alert("a"))
    last.send(alert("b"))
    last.send(alert("a", RESOLVED))
    assert last.state(1) is IncidentState.TRIGGERED
    last.send(alert("b", RESOLVED))
    assert last.state(1) is IncidentState.RESOLVED


def test_refiring_within_the_reopen_window_reopens_later_opens_new() -> None:
    store = Store(Policy(reopen_window=timedelta(minutes=10)))
    store.send(alert("a"))
    store.send(alert("a", RESOLVED), at=T0 + timedelta(minutes=1))
    plan = store.send(alert("a"), at=T0 + timedelta(minutes=5))
    assert plan.touched[0].changes[0] == "reopened"
    assert store.state(1) is IncidentState.TRIGGERED
    store.send(alert("a", RESOLVED), at=T0 + timedelta(minutes=6))
    store.send(alert("a"), at=T0 + timedelta(minutes=30))
    assert len(store.incidents) == 2
    assert store.alerts["a"].incident_id == 2


def test_a_new_alert_after_the_group_window_opens_a_second_incident() -> None:
    store = Store(Policy(group_window=timedelta(minutes=15)))
    store.send(alert("a"))
    store.send(alert("b"), at=T0 + timedelta(minutes=10))
    assert len(store.incidents) == 1
    store.send(alert("c"), at=T0 + timedelta(minutes=40))
    assert len(store.incidents) == 2
    assert store.incidents[1].state is IncidentState.TRIGGERED


def test_resends_keep_the_group_window_open() -> None:
    store = Store(Policy(group_window=timedelta(minutes=15)))
    store.send(alert("a"))
    for minute in (10, 20, 30):
        store.send(alert("a"), at=T0 + timedelta(minutes=minute))
    store.send(alert("b"), at=T0 + timedelta(minutes=40))
    assert len(store.incidents) == 1


def test_flapping_flags_the_incident_keeps_it_open_and_opens_nothing_new() -> None:
    store = Store(
        Policy(flap_flips=4, flap_window=timedelta(hours=1), reopen_window=timedelta(seconds=30))
    )
    store.send(alert("a"))
    for step in range(1, 10):
        status = RESOLVED if step % 2 else FIRING
        store.send(alert("a", status), at=T0 + timedelta(minutes=2 * step))
    # Before the 4th flip the short reopen window opened a second incident; from then on
    # the flapping alert stays on it, which stays open however often the alert flips.
    assert len(store.incidents) == 2
    assert [g.flapping for g in store.incidents.values()] == [False, True]
    assert store.state(2) is IncidentState.TRIGGERED
    assert store.alerts["a"].incident_id == 2
    assert sum(1 for _, kind in store.kinds if kind == "flapping") == 1


def test_a_resolved_alert_never_seen_firing_is_kept_without_an_incident() -> None:
    store = Store()
    plan = store.send(alert("a", RESOLVED))
    assert plan.touched == []
    assert store.alerts["a"].incident_id is None


def test_urgency_and_cis_grow_with_joining_alerts() -> None:
    store = Store()
    store.send(alert("a", sev="info"))
    plan = store.send(alert("b", sev="critical"))
    assert plan.touched[0].changes == ["urgency"]
    assert store.incidents[1].urgency == 1


def test_a_manually_resolved_incident_is_not_reopened_by_resends() -> None:
    store = Store()
    store.send(alert("a"))
    store.incidents[1] = replace(
        store.incidents[1], state=IncidentState.RESOLVED, resolved_at=T0 + timedelta(minutes=1)
    )
    plan = store.send(alert("a"), at=T0 + timedelta(minutes=2))
    assert plan.touched == []
    assert store.state(1) is IncidentState.RESOLVED
