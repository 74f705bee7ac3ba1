"""Time-to-delivery through the API: milestones from changes and runs, phases, weekly flow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.db import Database, utcnow
from tests.factories import Bake, Person, make_ci, make_person, record_change, record_deployment

H = timedelta(hours=1)


@pytest.fixture
def viewer(db: Database) -> tuple[Person, dict[str, str]]:
    """Services alpha and beta with a known history in the last 14 days, and someone to look."""
    now = utcnow().replace(microsecond=0)
    since = now - timedelta(days=14)
    with db.session(write=True) as session:
        for key in ("alpha", "beta"):
            make_ci(session, key, "business_service")
        a = record_change(
            session,
            service="alpha",
            created_at=now - 8 * H,
            commits=[now - 10 * H, now - 9 * H],
            approved_at=now - 6 * H,
        )
        record_deployment(
            session,
            service="alpha",
            change_id=a.id,
            started_at=now - 2 * H,
            rolled_out_at=now - 1.5 * H,
            bakes=[Bake(now - 1 * H, 100)],
            finished_at=now - 0.9 * H,
        )
        b = record_change(
            session, service="alpha", created_at=now - 30 * H, commits=[], approved_at=now - 29 * H
        )
        record_deployment(
            session,
            service="alpha",
            change_id=b.id,
            started_at=now - 20 * H,
            finished_at=now - 19 * H,
        )
        # Delivered before the period, redeployed in it: not a delivery of the period.
        c = record_change(
            session,
            service="beta",
            created_at=since - timedelta(days=5),
            commits=[since - timedelta(days=6)],
        )
        record_deployment(
            session,
            service="beta",
            change_id=c.id,
            started_at=since - timedelta(days=4),
            finished_at=since - timedelta(days=4) + H,
        )
        record_deployment(
            session, service="beta", change_id=c.id, started_at=now - 5 * H, finished_at=now - 4 * H
        )
        # Waiting, rejected, and carried in from before the period.
        record_change(
            session,
            service="beta",
            created_at=now - 3 * H,
            commits=[],
            state="authorize",
            close_code=None,
        )
        record_change(
            session,
            service="beta",
            created_at=now - 50 * H,
            commits=[],
            state="rejected",
            close_code=None,
            updated_at=now - 40 * H,
        )
        record_change(
            session,
            service="alpha",
            created_at=since - timedelta(days=3),
            commits=[],
            state="scheduled",
            close_code=None,
        )
        session.commit()
    period = {"since": since.isoformat(), "until": now.isoformat()}
    return make_person(db, Role.AUDITOR), period


def _get(client: TestClient, viewer: tuple[Person, dict[str, str]], **params: str) -> Any:
    who, period = viewer
    params = {**period, **params}
    answer = client.get("/api/v1/delivery/time-to-delivery", params=params, headers=who.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _hours(phase: dict[str, Any], field: str = "median_s") -> float:
    return round(phase[field] / 3600, 6)


def test_phases_per_service_from_the_milestones(
    client: TestClient, viewer: tuple[Person, dict[str, str]]
) -> None:
    body = _get(client, viewer)
    assert body["phases"] == ["development", "approval", "queue", "rollout", "verification"]
    alpha = next(s for s in body["services"] if s["service"] == "alpha")
    assert alpha["changes"] == 2
    phases = alpha["phases"]
    # alpha's changes: 2 h development (one of them has no commits), approvals 2 h and 1 h,
    # queues 4 h and 9 h, rollouts 0.5 h and 1 h (no steps: the whole run), bakes 0.5 h and 0.
    assert (phases["development"]["count"], _hours(phases["development"])) == (1, 2)
    assert _hours(phases["approval"]) == 1.5
    assert _hours(phases["queue"]) == 6.5
    assert _hours(phases["rollout"]) == 0.75
    assert _hours(phases["verification"]) == 0.25
    assert _hours(alpha["total"]) == 10  # 9 h and 11 h
    assert phases["queue"]["share"] == pytest.approx(13 / 20)
    assert [s["service"] for s in body["services"]] == ["alpha"]  # beta delivered nothing new
    assert body["total"]["changes"] == 2


def test_weekly_view_and_lagging_behind(
    client: TestClient, viewer: tuple[Person, dict[str, str]]
) -> None:
    body = _get(client, viewer)
    weekly = body["weekly"]
    assert sum(w["changes"] for w in weekly) == 2
    assert weekly[-1]["changes"] >= 1
    flow = body["flow"]
    assert [f["week_start"] for f in flow] == [w["week_start"] for w in weekly]
    assert sum(f["opened"] for f in flow) == 4
    assert sum(f["delivered"] for f in flow) == 2
    assert sum(f["ended_undelivered"] for f in flow) == 1
    # Waiting at the end: the change awaiting approval and the one carried in.
    assert flow[-1]["queue_at_end"] == 2


def test_scopes_and_no_data(client: TestClient, viewer: tuple[Person, dict[str, str]]) -> None:
    beta = _get(client, viewer, service="beta")
    assert beta["total"]["status"] == "no data"
    assert beta["total"]["changes"] == 0
    assert beta["total"]["total"]["median_s"] is None
    assert [s["service"] for s in beta["services"]] == ["beta"]
    bad = client.get(
        "/api/v1/delivery/time-to-delivery",
        params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        headers=viewer[0].headers,
    )
    assert bad.status_code == 422
