"""On-call schedules through the API: create, override, ask who is on call; bad input is 4xx."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from flywheel.audit.models import AuditEvent
from flywheel.auth.roles import Role
from flywheel.db import Database
from flywheel.incident.oncall_models import OnCallOverride, OnCallSchedule
from tests.factories import Person, make_person

API = "/api/v1/oncall"
WEEKLY = {
    "key": "storefront-primary",
    "name": "Storefront primary",
    "time_zone": "Europe/Berlin",
    "start_date": "2025-03-24",
    "handoff": "09:00",
    "rotation": "weekly",
    "members": ["ann", "bob"],
}


@pytest.fixture
def team(db: Database) -> dict[str, Person]:
    return {
        "admin": make_person(db, Role.ADMIN, username="root"),
        "ann": make_person(db, Role.OPERATOR, username="ann"),
        "bob": make_person(db, Role.DEVELOPER, username="bob"),
        "zoe": make_person(db, Role.DEVELOPER, username="zoe"),
    }


def _post(client: TestClient, who: Person, url: str, body: dict[str, Any]) -> Any:
    return client.post(API + url, json=body, headers=who.headers)


def _who(client: TestClient, who: Person, at: str) -> Any:
    response = client.get(
        f"{API}/who", params={"schedule": WEEKLY["key"], "at": at}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["on_call"]


def test_weekly_schedule_hands_off_at_local_nine_across_dst(
    client: TestClient, team: dict[str, Person]
) -> None:
    made = _post(client, team["ann"], "/schedules", WEEKLY)
    assert made.status_code == 201, made.text
    assert made.json()["shift_hours"] == 168
    bob = team["bob"]  # any role may look
    # 24 March 09:00 CET = 08:00 UTC; the handoff of 31 March is 09:00 CEST = 07:00 UTC.
    assert _who(client, bob, "2025-03-24T07:59:00Z") is None
    assert _who(client, bob, "2025-03-24T08:00:00Z")["username"] == "ann"
    first = _who(client, bob, "2025-03-31T06:59:00+00:00")
    assert first["username"] == "ann"
    assert first["ends_at"].startswith("2025-03-31T07:00:00")
    assert _who(client, bob, "2025-03-31T09:00:00+02:00")["username"] == "bob"


def test_an_override_covers_its_period_and_shows_in_the_schedule(
    client: TestClient, db: Database, team: dict[str, Person]
) -> None:
    assert _post(client, team["admin"], "/schedules", WEEKLY).status_code == 201
    cover = {
        "username": "zoe",
        "starts_at": "2025-03-26T18:00:00+01:00",
        "ends_at": "2025-03-27T08:00:00+01:00",
        "reason": "ann at the dentist",
    }
    made = _post(client, team["ann"], f"/schedules/{WEEKLY['key']}/overrides", cover)
    assert made.status_code == 201, made.text
    during = _who(client, team["bob"], "2025-03-26T20:00:00Z")
    assert (during["username"], during["override"]) == ("zoe", True)
    assert _who(client, team["bob"], "2025-03-27T07:00:00Z")["username"] == "ann"
    detail = client.get(
        f"{API}/schedules/{WEEKLY['key']}",
        params={"since": "2025-03-26T00:00:00Z", "days": 2},
        headers=team["bob"].headers,
    )
    assert detail.status_code == 200, detail.text
    shifts = [(s["username"], s["override"]) for s in detail.json()["shifts"]]
    assert shifts == [("ann", False), ("zoe", True), ("ann", False)]
    assert [o["username"] for o in detail.json()["overrides"]] == ["zoe"]
    with db.session() as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"oncall.schedule.create", "oncall.override.add"} <= actions


def test_custom_twelve_hour_shifts_and_listing(client: TestClient, team: dict[str, Person]) -> None:
    body = {**WEEKLY, "key": "db-12h", "rotation": "custom", "shift_hours": 12}
    body["handoff"], body["time_zone"] = "08:00", "UTC"
    assert _post(client, team["admin"], "/schedules", body).status_code == 201
    assert _post(client, team["admin"], "/schedules", WEEKLY).status_code == 201
    listed = client.get(f"{API}/schedules", headers=team["zoe"].headers)
    assert [s["key"] for s in listed.json()] == ["db-12h", "storefront-primary"]
    response = client.get(
        f"{API}/who",
        params={"schedule": "db-12h", "at": "2025-03-24T20:00:00Z"},
        headers=team["zoe"].headers,
    )
    assert response.json()["on_call"]["username"] == "bob"


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"time_zone": "Mars/Olympus"}, 422, "time zone"),
        ({"members": ["ann", "nobody"]}, 422, "nobody"),
        ({"members": []}, 422, "members"),
        ({"handoff": "25:00"}, 422, "handoff"),
        ({"rotation": "custom"}, 422, "shift_hours"),
        ({"shift_hours": 12}, 422, "shift_hours"),
        ({"key": "Bad Key"}, 422, "key"),
    ],
)
def test_bad_schedules_are_refused_and_nothing_is_written(
    client: TestClient,
    db: Database,
    team: dict[str, Person],
    change: dict[str, Any],
    status: int,
    words: str,
) -> None:
    response = _post(client, team["admin"], "/schedules", {**WEEKLY, **change})
    assert response.status_code == status, response.text
    assert words in response.text
    with db.session() as session:
        assert session.scalar(select(OnCallSchedule.id)) is None


def test_bad_overrides_and_questions_are_refused(
    client: TestClient, db: Database, team: dict[str, Person]
) -> None:
    assert _post(client, team["admin"], "/schedules", WEEKLY).status_code == 201
    url = f"/schedules/{WEEKLY['key']}/overrides"
    backwards = {
        "username": "zoe",
        "starts_at": "2025-03-27T00:00Z",
        "ends_at": "2025-03-26T00:00Z",
    }
    assert _post(client, team["admin"], url, backwards).status_code == 422
    naive = {"username": "zoe", "starts_at": "2025-03-26T00:00", "ends_at": "2025-03-27T00:00"}
    assert _post(client, team["admin"], url, naive).status_code == 422
    stranger = {**backwards, "username": "ghost", "ends_at": "2025-03-28T00:00Z"}
    assert _post(client, team["admin"], url, stranger).status_code == 422
    missing = {**backwards, "ends_at": "2025-03-28T00:00Z"}
    assert _post(client, team["admin"], "/schedules/none/overrides", missing).status_code == 404
    assert _post(client, team["bob"], url, missing).status_code == 403
    with db.session() as session:
        assert session.scalar(select(OnCallOverride.id)) is None
    headers = team["bob"].headers
    naive_at = client.get(
        f"{API}/who", params={"schedule": WEEKLY["key"], "at": "2025-03-26T10:00"}, headers=headers
    )
    assert naive_at.status_code == 422 and "time zone" in naive_at.text
    unknown = client.get(f"{API}/who", params={"schedule": "none"}, headers=headers)
    assert unknown.status_code == 404
    duplicate = _post(client, team["admin"], "/schedules", WEEKLY)
    assert duplicate.status_code == 409
