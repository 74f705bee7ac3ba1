"""Alert intake over the API: authentication, bad input, dedup, grouping, CI mapping, priority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flywheel.incident.models import Alert, Incident, IncidentEvent
from tests.factories import am_alert, am_payload
from tests.integration.incident.conftest import WEBHOOK, Desk


def test_token_in_header_or_query_and_wrong_tokens_refused(desk: Desk) -> None:
    body = am_payload(am_alert("f1", instance="web0:9100"))
    assert desk.client.post(f"{WEBHOOK}?token={desk.token}", json=body).status_code == 200
    refused = {
        "missing": desk.client.post(WEBHOOK, json=body),
        "unknown": desk.client.post(f"{WEBHOOK}?token=fwi_nope", json=body),
        "user token": desk.client.post(WEBHOOK, json=body, headers=desk.admin.headers),
    }
    assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 401)
    assert "missing integration token" in refused["missing"].json()["error"]["message"]
    assert refused["unknown"].json()["error"]["message"] == "unknown integration token"


def test_a_revoked_integration_is_refused(desk: Desk) -> None:
    gone = desk.client.delete("/api/v1/integrations/am", headers=desk.admin.headers)
    assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
    body = am_payload(am_alert("f1"))
    answer = desk.client.post(f"{WEBHOOK}?token={desk.token}", json=body)
    assert answer.status_code == 401
    assert "revoked" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p["alerts"][1].update(startsAt="2026-01-01T00:00:00"), "alerts.1.startsAt"),
        (lambda p: p["alerts"][0].update(status="burning"), "alerts.0.status"),
        (lambda p: p["alerts"][1].update(labels={"a": 5}), "alerts.1.labels.a"),
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts.0.startsAt"),
    ],
)
def test_malformed_payloads_are_422_naming_the_field_and_store_nothing(
    desk: Desk, change: Any, field: str
) -> None:
    body = am_payload(am_alert("f1", instance="web0"), am_alert("f2", instance="web1"))
    change(body)
    answer = desk.client.post(WEBHOOK, json=body, headers={"Authorization": f"Bearer {desk.token}"})
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["error"]["message"]
    assert desk.count(Alert) == 0


def test_not_json_is_422(desk: Desk) -> None:
    answer = desk.client.post(
        WEBHOOK,
        content=b"{not json",
        headers={"Authorization": f"Bearer {desk.token}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 422


def test_alerts_on_one_service_open_one_incident_and_resends_are_idempotent(desk: Desk) -> None:
    body = am_payload(
        am_alert("f1", instance="web0:9100", severity="warning"),
        am_alert("f2", instance="web1:9100", severity="warning"),
        am_alert("f3", instance="db1", severity="warning"),
    )
    first = desk.send(body)
    assert (first["alerts_new"], len(first["incidents_opened"])) == (3, 1)
    (incident,) = desk.incidents()
    assert (incident.service, incident.alert_count, incident.firing_count) == ("checkout", 3, 3)
    events = desk.count(IncidentEvent)
    for _ in range(3):
        again = desk.send(body)
        assert (again["alerts_new"], again["alerts_updated"], again["incidents_opened"]) == (
            0,
            3,
            [],
        )
    assert desk.count(IncidentEvent) == events
    assert [a.received for a in desk.alerts()] == [4, 4, 4]
    (same,) = desk.incidents()
    assert (same.alert_count, same.firing_count, same.state) == (3, 3, "triggered")


def test_unknown_cis_are_kept_flagged_and_grouped_by_service_label(desk: Desk) -> None:
    answer = desk.send(
        am_payload(
            am_alert("u1", instance="ghost1:9100", service="payments"),
            am_alert("u2", instance="ghost2:9100", service="payments"),
            am_alert("u3", alertname="DiskFull"),
        )
    )
    assert answer["ci_unknown"] == 3
    alerts = {a.fingerprint: a for a in desk.alerts()}
    assert (alerts["u1"].ci_key, alerts["u1"].ci_unknown) == ("ghost1", True)
    assert "ci_unknown" in alerts["u1"].flags
    incidents = desk.incidents()
    assert sorted(i.service for i in incidents) == ["DiskFull", "payments"]
    assert all(not i.service_known and i.impact_level == 2 for i in incidents)


def test_resolved_alerts_resolve_the_incident_and_a_refire_reopens_it(desk: Desk) -> None:
    firing = [am_alert("f1", instance="web0"), am_alert("f2", instance="web1")]
    desk.send(am_payload(*firing))
    half = desk.send(
        am_payload(am_alert("f1", "resolved", instance="web0", ends_at="2026-01-01T00:10:00Z"))
    )
    assert half["incidents_resolved"] == []
    both = [
        am_alert(fp, "resolved", instance=i, ends_at="2026-01-01T00:10:00Z")
        for fp, i in (("f1", "web0"), ("f2", "web1"))
    ]
    done = desk.send(am_payload(*both, status="resolved"))
    (incident,) = desk.incidents()
    assert done["incidents_resolved"] == [incident.number]
    assert (incident.state, incident.resolved_by) == ("resolved", "integration:am")
    again = desk.send(am_payload(am_alert("f1", instance="web0")))
    assert again["incidents_reopened"] == [incident.number]
    (reopened,) = desk.incidents()
    assert (reopened.state, reopened.reopen_count, reopened.resolved_at) == ("triggered", 1, None)
    kinds = desk.event_kinds(incident.id)
    assert kinds.count("resolved") == 1 and kinds[-2:] == ["reopened", "alert.refired"]


def test_future_timestamps_are_normalised_and_reported(desk: Desk) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    answer = desk.send(am_payload(am_alert("f1", instance="web0", starts_at=future)))
    assert answer["normalised"] == [{"fingerprint": "f1", "flags": ["starts_at_in_future"]}]
    (alert,) = desk.alerts()
    assert alert.starts_at <= datetime.now(UTC)


def test_priority_comes_from_impact_and_rises_as_more_cis_fail(desk: Desk) -> None:
    desk.send(am_payload(am_alert("f1", instance="web0", severity="critical")))
    (incident,) = desk.incidents()
    # One of six pool members down: checkout (criticality 1) degraded, one tenant → medium.
    assert (incident.priority, incident.impact_level) == (2, 2)
    assert incident.impact is not None and incident.impact["services"][0]["key"] == "checkout"
    desk.send(am_payload(am_alert("f9", instance="db1", severity="critical")))
    (raised,) = desk.incidents()
    assert (raised.priority, raised.impact_level) == (1, 1)
    assert raised.version == incident.version + 1
    kinds = desk.event_kinds(incident.id)
    assert kinds[:2] == ["opened", "alert.firing"] and "priority.raised" in kinds
    desk.send(am_payload(am_alert("f10", instance="web2", severity="info")))
    assert desk.incidents()[0].priority == 1  # never lowered


def test_each_batch_is_one_audit_event_plus_incident_changes(desk: Desk) -> None:
    body = am_payload(*(am_alert(f"f{i}", instance=f"web{i % 6}") for i in range(40)))
    desk.send(body)
    desk.send(body)
    events = desk.client.get(
        "/api/v1/audit?object_type=alert_source", headers=desk.auditor.headers
    ).json()["items"]
    assert [e["action"] for e in events] == ["alerts.receive", "alerts.receive"]
    assert all(e["request_id"] for e in events)
    opened = desk.client.get(
        "/api/v1/audit?action=incident.open", headers=desk.auditor.headers
    ).json()["items"]
    assert len(opened) == 1
    assert desk.client.get("/api/v1/audit/verify", headers=desk.auditor.headers).json()["intact"]


def test_integration_rules_map_labels_to_cis(desk: Desk) -> None:
    made = desk.client.post(
        "/api/v1/integrations",
        json={
            "name": "pools",
            "ci_rules": [{"template": "{shard}-pool"}, {"template": "{service}"}],
        },
        headers=desk.admin.headers,
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    with desk.db.session(write=True) as session:
        from tests.factories import make_ci

        make_ci(session, "eu-pool", "service_pool")
        session.commit()
    desk.send(am_payload(am_alert("p1", shard="eu", service="search")), token=token)
    (alert,) = desk.alerts()
    assert (alert.ci_key, alert.ci_unknown, alert.group_key) == ("eu-pool", False, "search")


def test_bad_integration_rules_are_422(desk: Desk) -> None:
    made = desk.client.post(
        "/api/v1/integrations",
        json={"name": "bad", "ci_rules": [{"template": "{a.b}"}]},
        headers=desk.admin.headers,
    )
    assert made.status_code == 422
    assert "ci_rules[0]" in made.json()["error"]["message"]
    dup = desk.client.post("/api/v1/integrations", json={"name": "am"}, headers=desk.admin.headers)
    assert dup.status_code == 409


def test_integration_rules_update_is_versioned(desk: Desk) -> None:
    (current,) = desk.client.get("/api/v1/integrations", headers=desk.admin.headers).json()
    body = {"version": current["version"], "ci_rules": [{"template": "{node}"}]}
    ok = desk.client.patch("/api/v1/integrations/am", json=body, headers=desk.admin.headers)
    assert ok.status_code == 200 and ok.json()["ci_rules"] == [{"template": "{node}"}]
    stale = desk.client.patch("/api/v1/integrations/am", json=body, headers=desk.admin.headers)
    assert stale.status_code == 409


def test_generic_alerts_group_like_alertmanager_ones(desk: Desk) -> None:
    alerts = [
        {
            "source": "probes",
            "labels": {"alertname": "HttpDown", "ci": "web0"},
            "severity": "critical",
        },
        {
            "source": "probes",
            "labels": {"alertname": "HttpDown", "ci": "web1"},
            "severity": "critical",
        },
    ]
    answer = desk.client.post("/api/v1/alerts", json=alerts, headers=desk.oncall.headers)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["alerts_new"], len(answer.json()["incidents_opened"])) == (2, 1)
    again = desk.client.post("/api/v1/alerts", json=alerts, headers=desk.oncall.headers).json()
    assert again["alerts_new"] == 0  # fingerprints derived from the labels
    assert {a.source for a in desk.alerts()} == {"api:probes"}


@pytest.mark.parametrize(
    ("alert", "field"),
    [
        ({"labels": {"alertname": "x"}}, "0.source"),
        (
            {"source": "p", "labels": {"alertname": "x"}, "starts_at": "2026-01-01T00:00:00"},
            "0.starts_at",
        ),
        ({"source": "p", "labels": {"alertname": "x"}, "status": "on"}, "0.status"),
        ({"source": "p", "labels": {"alertname": "x"}, "colour": "red"}, "0.colour"),
    ],
)
def test_generic_alerts_refuse_bad_input(desk: Desk, alert: dict[str, Any], field: str) -> None:
    answer = desk.client.post("/api/v1/alerts", json=[alert], headers=desk.oncall.headers)
    assert answer.status_code == 422
    assert field in answer.json()["error"]["message"]
    empty = desk.client.post("/api/v1/alerts", json=[], headers=desk.oncall.headers)
    assert empty.status_code == 422
    assert desk.count(Incident) == 0
