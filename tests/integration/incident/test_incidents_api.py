"""Responding to incidents over the API: list, read, acknowledge, resolve, reopen, notes, links."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from flywheel.db import utcnow
from flywheel.incident.models import Incident
from tests.factories import Person, am_alert, am_payload
from tests.integration.incident.conftest import Desk

API = "/api/v1/incidents"


def _open(desk: Desk, *services: str) -> list[dict[str, Any]]:
    """One firing alert per service; the incidents it opened, in order."""
    alerts = [am_alert(f"fp-{s}", instance=f"{s}-host", service=s) for s in services]
    desk.send(am_payload(*alerts))
    listed = desk.client.get(f"{API}?order=oldest", headers=desk.oncall.headers).json()["items"]
    return [i for i in listed if i["service"] in services]


def _act(desk: Desk, who: Person, incident: dict[str, Any], action: str, **body: Any) -> Any:
    body.setdefault("version", incident["version"])
    return desk.client.post(f"{API}/{incident['id']}/{action}", json=body, headers=who.headers)


def test_list_filters_and_pages(desk: Desk) -> None:
    made = _open(desk, "alpha", "beta", "gamma")
    _act(desk, desk.oncall, made[1], "resolve")
    headers = desk.auditor.headers
    open_ = desk.client.get(f"{API}?state=open", headers=headers).json()["items"]
    assert [i["service"] for i in open_] == ["gamma", "alpha"]
    resolved = desk.client.get(f"{API}?state=resolved", headers=headers).json()["items"]
    assert [i["service"] for i in resolved] == ["beta"]
    by_service = desk.client.get(f"{API}?service=alpha", headers=headers).json()["items"]
    assert [i["number"] for i in by_service] == [made[0]["number"]]
    assert all(i["priority"] == "P3" for i in open_)
    assert desk.client.get(f"{API}?priority=P1", headers=headers).json()["items"] == []
    first = desk.client.get(f"{API}?limit=2", headers=headers).json()
    second = desk.client.get(f"{API}?limit=2&cursor={first['next_cursor']}", headers=headers).json()
    assert [i["service"] for i in first["items"] + second["items"]] == ["gamma", "beta", "alpha"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize("query", ["priority=P9", "state=sleeping", "cursor=abc", "limit=0"])
def test_bad_list_filters_are_422(desk: Desk, query: str) -> None:
    assert desk.client.get(f"{API}?{query}", headers=desk.oncall.headers).status_code == 422


def test_detail_has_alerts_and_timeline(desk: Desk) -> None:
    (incident,) = _open(desk, "alpha")
    detail = desk.client.get(f"{API}/{incident['id']}", headers=desk.auditor.headers).json()
    assert [a["fingerprint"] for a in detail["alerts"]] == ["fp-alpha"]
    assert [e["kind"] for e in detail["timeline"]] == ["opened", "alert.firing", "priority.set"]
    assert detail["number"] == f"INC{incident['id']:07d}"
    missing = desk.client.get(f"{API}/999999", headers=desk.auditor.headers)
    assert missing.status_code == 404


def test_acknowledge_resolve_reopen_with_versions(desk: Desk) -> None:
    (incident,) = _open(desk, "alpha")
    acked = _act(desk, desk.oncall, incident, "ack", note="looking")
    assert acked.status_code == 200, acked.text
    assert (acked.json()["state"], acked.json()["acknowledged_by"]) == ("acknowledged", "olga")
    assert _act(desk, desk.oncall, incident, "ack").status_code == 409  # stale version
    again = _act(desk, desk.oncall, acked.json(), "ack")
    assert again.status_code == 409 and "already acknowledged" in again.json()["error"]["message"]
    done = _act(desk, desk.admin, acked.json(), "resolve", note="rolled back")
    assert (done.json()["state"], done.json()["resolved_by"]) == ("resolved", "root")
    assert _act(desk, desk.admin, done.json(), "resolve").status_code == 409
    assert _act(desk, desk.admin, done.json(), "ack").status_code == 409
    back = _act(desk, desk.oncall, done.json(), "reopen", reason="errors again")
    assert (back.json()["state"], back.json()["reopen_count"]) == ("triggered", 1)
    kinds = [
        e["kind"]
        for e in desk.client.get(f"{API}/{incident['id']}", headers=desk.oncall.headers).json()[
            "timeline"
        ]
    ]
    assert kinds[-5:] == ["acknowledged", "note", "resolved", "note", "reopened"]
    audited = desk.client.get(
        f"/api/v1/audit?object_id={incident['number']}", headers=desk.auditor.headers
    ).json()["items"]
    assert [e["action"] for e in audited] == [
        "incident.open",
        "incident.acknowledge",
        "incident.resolve",
        "incident.reopen",
    ]


def test_concurrent_acknowledgements_one_wins_the_other_gets_409(desk: Desk) -> None:
    (incident,) = _open(desk, "alpha")
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: _act(desk, desk.oncall, incident, "ack"), range(6)))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 5


def test_responder_actions_need_the_respond_permission(desk: Desk) -> None:
    (incident,) = _open(desk, "alpha")
    denied = _act(desk, desk.auditor, incident, "ack")
    assert denied.status_code == 403
    assert "incident:respond" in denied.json()["error"]["message"]


def test_bad_bodies_are_422(desk: Desk) -> None:
    (incident,) = _open(desk, "alpha")
    url = f"{API}/{incident['id']}"
    h = desk.oncall.headers
    assert desk.client.post(f"{url}/ack", json={}, headers=h).status_code == 422
    assert desk.client.post(f"{url}/reopen", json={"version": 1}, headers=h).status_code == 422
    assert desk.client.post(f"{url}/notes", json={"text": ""}, headers=h).status_code == 422
    assert desk.client.post(f"{url}/links", json={"change": "abc"}, headers=h).status_code == 422
    assert desk.client.post(f"{API}/424242/notes", json={"text": "x"}, headers=h).status_code == 404


def test_notes_and_change_links(desk: Desk) -> None:
    (incident,) = _open(desk, "alpha")
    url = f"{API}/{incident['id']}"
    note = desk.client.post(
        f"{url}/notes", json={"text": "cache cold"}, headers=desk.oncall.headers
    )
    assert note.status_code == 201 and note.json()["kind"] == "note"
    change = desk.client.post(
        "/api/v1/changes",
        json={"service": "checkout", "title": "Deploy 1.2"},
        headers=desk.admin.headers,
    ).json()
    link = desk.client.post(
        f"{url}/links",
        json={"change": change["number"], "note": "suspect"},
        headers=desk.oncall.headers,
    )
    assert link.status_code == 201, link.text
    assert link.json()["ref"] == change["number"]
    dup = desk.client.post(
        f"{url}/links", json={"change": str(change["id"])}, headers=desk.oncall.headers
    )
    assert dup.status_code == 409
    unknown = desk.client.post(
        f"{url}/links", json={"change": "CHG0099999"}, headers=desk.oncall.headers
    )
    assert unknown.status_code == 422 and "no change 99999" in unknown.json()["error"]["message"]
    detail = desk.client.get(url, headers=desk.oncall.headers).json()
    assert [k["ref"] for k in detail["links"]] == [change["number"]]
    assert [e["kind"] for e in detail["timeline"]][-2:] == ["note", "link.change"]


def test_mtta_and_mttr_per_service_and_priority(desk: Desk) -> None:
    made = _open(desk, "alpha", "beta")
    opened = utcnow() - timedelta(minutes=30)
    with desk.db.session(write=True) as session:
        session.execute(update(Incident).values(opened_at=opened))
        session.commit()
    fresh = [desk.client.get(f"{API}/{i['id']}", headers=desk.oncall.headers).json() for i in made]
    acked = _act(desk, desk.oncall, fresh[0], "ack").json()
    _act(desk, desk.oncall, acked, "resolve")
    answer = desk.client.get(f"{API}/metrics", headers=desk.auditor.headers).json()
    rows = {r["service"]: r for r in answer["rows"]}
    assert rows["alpha"]["mtta_seconds"] == pytest.approx(1800, abs=120)
    assert rows["alpha"]["mttr_seconds"] == pytest.approx(1800, abs=120)
    assert (rows["beta"]["acknowledged"], rows["beta"]["mttr_seconds"]) == (0, None)
    assert answer["overall"]["incidents"] == 2
    later = desk.client.get(
        f"{API}/metrics?since={(utcnow() + timedelta(hours=1)).isoformat().replace('+00:00', 'Z')}",
        headers=desk.auditor.headers,
    ).json()
    assert later["overall"]["incidents"] == 0
