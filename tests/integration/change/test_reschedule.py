"""Rescheduling a change: new window, checks re-run, freezes respected, stale writes refused."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from flywheel.change.models import ChangeRequest
from flywheel.db import Database, utcnow
from tests.integration.change.conftest import Crew, open_change
from tests.integration.change.test_policies_and_windows import freeze


def window(start: datetime, hours: int = 1) -> dict[str, str]:
    return {
        "planned_start": start.isoformat(),
        "planned_end": (start + timedelta(hours=hours)).isoformat(),
    }


def tomorrow() -> datetime:
    return (utcnow() + timedelta(days=1)).replace(microsecond=0)


def reschedule(client: TestClient, crew: Crew, change_id: object, **body: object) -> Response:
    return client.post(
        f"/api/v1/changes/{change_id}/reschedule", json=body, headers=crew.pipeline.headers
    )


def test_a_change_moves_to_a_new_window_audited(client: TestClient, crew: Crew) -> None:
    change = open_change(client, crew.pipeline, **window(tomorrow()))
    assert change["state"] == "scheduled"
    later = tomorrow() + timedelta(days=2)
    moved = reschedule(
        client, crew, change["id"], row_version=change["row_version"], **window(later, 2)
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["state"] == "scheduled"
    assert datetime.fromisoformat(body["planned_start"]) == later
    assert datetime.fromisoformat(body["planned_end"]) == later + timedelta(hours=2)
    assert body["row_version"] > change["row_version"]
    events = client.get(
        "/api/v1/audit?action=change.reschedule", headers=crew.admin.headers
    ).json()["items"]
    assert len(events) == 1
    assert events[0]["object_id"] == change["number"]
    before = datetime.fromisoformat(events[0]["before"]["planned_start"])
    assert before == datetime.fromisoformat(str(change["planned_start"]))
    assert datetime.fromisoformat(events[0]["after"]["planned_start"]) == later


def test_stale_versions_illegal_states_and_bad_windows_are_refused(
    client: TestClient, crew: Crew
) -> None:
    change = open_change(client, crew.pipeline, **window(tomorrow()))
    later = window(tomorrow() + timedelta(days=1))
    stale = reschedule(
        client, crew, change["id"], row_version=int(str(change["row_version"])) + 5, **later
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_version"
    backwards = {"planned_start": later["planned_end"], "planned_end": later["planned_start"]}
    assert reschedule(client, crew, change["id"], **backwards).status_code == 422
    past = window(utcnow() - timedelta(days=2))
    assert reschedule(client, crew, change["id"], **past).status_code == 422
    assert reschedule(client, crew, change["id"], planned_start="soon").status_code == 422
    naive = {k: v.replace("+00:00", "") for k, v in later.items()}
    assert reschedule(client, crew, change["id"], **naive).status_code == 422
    assert reschedule(client, crew, 999_999, **later).status_code == 404
    url = f"/api/v1/changes/{change['id']}"
    assert client.post(f"{url}/start", headers=crew.pipeline.headers).status_code == 200
    started = reschedule(client, crew, change["id"], **later)
    assert started.status_code == 409
    assert started.json()["error"]["code"] == "illegal_transition"
    unchanged = client.get(url, headers=crew.dev.headers).json()
    assert unchanged["planned_start"] == change["planned_start"]


def test_an_approved_change_cannot_move_into_a_freeze_without_breaking_glass(
    client: TestClient, crew: Crew
) -> None:
    start = tomorrow() + timedelta(days=5)
    change = open_change(client, crew.pipeline, **window(start))
    assert change["state"] == "scheduled"
    freeze(client, crew, scope="service:blog")  # from an hour ago to two days on
    into_freeze = window(tomorrow())
    refused = reschedule(client, crew, change["id"], **into_freeze)
    assert refused.status_code == 409
    assert "black friday" in refused.json()["error"]["message"]
    reason = {"break_glass_reason": "the fix cannot wait for the freeze"}
    not_allowed = reschedule(client, crew, change["id"], **into_freeze, **reason)
    assert not_allowed.status_code == 403
    url = f"/api/v1/changes/{change['id']}"
    kept = client.get(url, headers=crew.dev.headers).json()
    assert kept["planned_start"] == change["planned_start"]
    assert kept["row_version"] == change["row_version"]
    broken = client.post(
        f"{url}/reschedule", json={**into_freeze, **reason}, headers=crew.admin.headers
    )
    assert broken.status_code == 200, broken.text
    decision = broken.json()["decision"]
    assert decision["override"]["by"] == "root"
    assert decision["blockers"] == []
    assert client.post(f"{url}/start", headers=crew.pipeline.headers).status_code == 200


def test_a_change_awaiting_approval_moved_into_a_freeze_records_the_blocker(
    client: TestClient, crew: Crew
) -> None:
    freeze(client, crew, scope="service:blog")
    change = open_change(client, crew.pipeline, **window(tomorrow() + timedelta(days=5)))
    assert change["state"] == "scheduled"  # outside the freeze
    pending = open_change(client, crew.pipeline, **window(tomorrow()))
    assert pending["state"] == "authorize"
    out = reschedule(client, crew, pending["id"], **window(tomorrow() + timedelta(days=6)))
    assert out.status_code == 200, out.text
    assert out.json()["decision"]["blockers"] == []
    back = reschedule(client, crew, pending["id"], **window(tomorrow()))
    assert back.status_code == 200, back.text
    assert back.json()["decision"]["blockers"][0]["window"] == "black friday"


def test_conflicts_are_checked_again_for_the_new_window(client: TestClient, crew: Crew) -> None:
    first = open_change(
        client, crew.pipeline, service="checkout", cis=["db1"], **window(tomorrow())
    )
    elsewhere = window(tomorrow() + timedelta(days=3))
    second = open_change(client, crew.pipeline, service="search", cis=["db1"], **elsewhere)
    assert second["decision"]["conflicts"] == []  # type: ignore[index]
    moved = reschedule(client, crew, second["id"], **window(tomorrow()))
    assert moved.status_code == 200, moved.text
    conflicts = moved.json()["decision"]["conflicts"]
    assert conflicts and conflicts[0]["change"] == first["number"]
    away = reschedule(client, crew, second["id"], **elsewhere)
    assert away.json()["decision"]["conflicts"] == []


def test_an_unplanned_change_occupies_only_the_hour_after_it_was_opened(
    client: TestClient, crew: Crew, db: Database
) -> None:
    old = open_change(client, crew.pipeline)
    assert old["state"] == "scheduled"
    fresh = open_change(client, crew.pipeline)
    assert [c["change"] for c in fresh["decision"]["conflicts"]] == [old["number"]]  # type: ignore[index]
    with db.session(write=True) as session:
        opened = utcnow() - timedelta(hours=2)
        session.execute(update(ChangeRequest).values(created_at=opened))
        session.commit()
    later = open_change(client, crew.pipeline)
    assert later["decision"]["conflicts"] == []  # type: ignore[index]
