"""The four keys through the API against an independent computation of their definitions."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flywheel.auth.roles import Role
from flywheel.db import Database, utcnow
from flywheel.delivery import sources
from flywheel.delivery.sources import LinkedFailure
from tests.factories import Person, make_ci, make_person, make_team
from tests.integration.delivery.history import History, Run, generate

SERVICES = ["alpha", "beta", "gamma"]
FINAL = {"succeeded", "rolled_back", "failed", "aborted"}


@pytest.fixture
def world(db: Database) -> Iterator[tuple[Person, History, datetime, datetime]]:
    """Three services (alpha and beta owned by team core), a generated history, an incident feed."""
    until = utcnow().replace(microsecond=0)
    since = until - timedelta(days=30)
    with db.session(write=True) as session:
        make_team(session, "core")
        make_team(session, "edge")
        for key, team in zip([*SERVICES, "quiet"], ["core", "core", "edge", "edge"], strict=True):
            make_ci(session, key, "business_service", owner_team=team)
        history = generate(session, services=SERVICES, since=since, until=until)
        session.commit()

    def linked(
        session: Session, *, start: datetime, end: datetime, services: Sequence[str] | None = None
    ) -> list[LinkedFailure]:
        runs = {r.id: r for r in history.runs}
        return [
            LinkedFailure(run_id, runs[run_id].finished + timedelta(minutes=1), recovered)
            for run_id, recovered in history.incidents.items()
            if start <= runs[run_id].finished < end
            and (services is None or runs[run_id].service in services)
        ]

    sources.register_failures("test-failures", linked)
    yield make_person(db, Role.DEVELOPER), history, since, until
    sources.unregister_failures("test-failures")


def _in_period(run: Run, since: datetime, until: datetime) -> bool:
    return (
        run.environment == "production"
        and run.rollback_of is None
        and run.state in FINAL
        and since <= run.finished < until
    )


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def expected_keys(
    history: History, services: set[str], since: datetime, until: datetime
) -> dict[str, Any]:
    """The four keys, computed straight from the definitions over the generated records."""
    runs = [r for r in history.runs if r.service in services and _in_period(r, since, until)]
    successes = [r for r in runs if r.state == "succeeded"]
    # Lead time: each change's first successful production deployment (over all time).
    first: dict[int, Run] = {}
    for run in sorted(history.runs, key=lambda r: (r.finished, r.id)):
        ok = (
            run.environment == "production" and run.state == "succeeded" and run.rollback_of is None
        )
        if ok and run.change_id is not None and run.change_id not in first:
            first[run.change_id] = run
    leads = [
        (run.finished - authored).total_seconds()
        for change_id, run in first.items()
        if run.service in services and since <= run.finished < until
        for authored in history.commits[change_id]
        if authored is not None and run.finished > authored
    ]
    # Change failure rate and recovery.
    per_change: dict[int, int] = {}
    for run in runs:
        if run.change_id is not None:
            per_change[run.change_id] = per_change.get(run.change_id, 0) + 1
    rollbacks = {r.rollback_of: r for r in history.runs if r.rollback_of is not None}
    recoveries, failed = [], 0
    for run in runs:
        later_ok = sorted(
            r.finished
            for r in successes
            if r.service == run.service and (r.finished, r.id) > (run.finished, run.id)
        )
        fallback = later_ok[0] if later_ok else None
        if run.state == "rolled_back":
            restored = run.finished
        elif run.state == "failed":
            restored = fallback
        elif run.id in rollbacks:
            back = rollbacks[run.id]
            restored = back.finished if back.state == "succeeded" else fallback
        elif run.id in history.incidents:
            restored = history.incidents[run.id] or fallback
        elif (
            history.close_codes.get(run.change_id or -1) in ("failed", "rolled_back")
            and per_change.get(run.change_id or -1) == 1
        ):
            restored = fallback
        else:
            continue
        failed += 1
        if restored is not None:
            recoveries.append((restored - run.started).total_seconds())
    days = (until - since).total_seconds() / 86_400
    return {
        "deployments": len(successes),
        "per_day": len(successes) / days if runs else None,
        "lead_count": len(leads),
        "lead_median": statistics.median(leads) if leads else None,
        "lead_p90": _p90(leads) if leads else None,
        "finished": len(runs),
        "failed": failed,
        "rate": failed / len(runs) if runs else None,
        "recovery_count": len(recoveries),
        "recovery_median": statistics.median(recoveries) if recoveries else None,
        "recovery_p90": _p90(recoveries) if recoveries else None,
    }


def actual_keys(keys: dict[str, Any]) -> dict[str, Any]:
    """The same figures from an API answer."""
    df, lead = keys["deployment_frequency"], keys["lead_time"]
    cfr, rec = keys["change_failure_rate"], keys["recovery_time"]
    return {
        "deployments": df["deployments"],
        "per_day": df["per_day"],
        "lead_count": lead["count"],
        "lead_median": lead["median_s"],
        "lead_p90": lead["p90_s"],
        "finished": cfr["deployments"],
        "failed": cfr["failed"],
        "rate": cfr["rate"],
        "recovery_count": rec["count"],
        "recovery_median": rec["median_s"],
        "recovery_p90": rec["p90_s"],
    }


def _get(client: TestClient, who: Person, **params: str) -> Any:
    answer = client.get("/api/v1/delivery/metrics", params=params, headers=who.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _approx(expected: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if v is None or isinstance(v, int) else pytest.approx(v, abs=0.01)
        for k, v in expected.items()
    }


def test_four_keys_per_service_and_in_total_match_the_definitions(
    client: TestClient, world: tuple[Person, History, datetime, datetime]
) -> None:
    dev, history, since, until = world
    body = _get(client, dev, since=since.isoformat(), until=until.isoformat())
    assert [s["service"] for s in body["services"]] == SERVICES
    for keys in body["services"]:
        want = expected_keys(history, {keys["service"]}, since, until)
        assert want["failed"] > 0 and want["lead_count"] > 0  # the history exercises them
        assert actual_keys(keys) == _approx(want), keys["service"]
    assert actual_keys(body["total"]) == _approx(
        expected_keys(history, set(SERVICES), since, until)
    )
    assert body["days"] == pytest.approx(30)
    assert "2024" in body["bands_source"]


def test_team_and_service_scopes(
    client: TestClient, world: tuple[Person, History, datetime, datetime]
) -> None:
    dev, history, since, until = world
    period = {"since": since.isoformat(), "until": until.isoformat()}
    core = _get(client, dev, team="core", **period)
    assert [s["service"] for s in core["services"]] == ["alpha", "beta"]
    assert actual_keys(core["total"]) == _approx(
        expected_keys(history, {"alpha", "beta"}, since, until)
    )
    one = _get(client, dev, service="gamma", **period)
    assert [s["service"] for s in one["services"]] == ["gamma"]
    assert actual_keys(one["total"]) == _approx(expected_keys(history, {"gamma"}, since, until))


def test_a_period_without_deployments_says_no_data(
    client: TestClient, world: tuple[Person, History, datetime, datetime]
) -> None:
    dev, _, _, _ = world
    body = _get(client, dev, service="quiet")
    keys = body["services"][0]
    for name in ("deployment_frequency", "lead_time", "change_failure_rate", "recovery_time"):
        assert keys[name]["status"] == "no data", name
        assert keys[name]["band"] is None
    assert keys["deployment_frequency"]["per_day"] is None
    assert keys["change_failure_rate"]["rate"] is None
    assert keys["lead_time"]["median_s"] is None
    old = _get(client, dev, since="2001-01-01T00:00:00Z", until="2001-02-01T00:00:00Z")
    assert old["services"] == []
    assert old["total"]["change_failure_rate"]["status"] == "no data"


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 422, "must be before"),
        ({"since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 422, "three years"),
        ({"service": "nowhere"}, 404, "nowhere"),
        ({"team": "nobody"}, 404, "nobody"),
        ({"team": "edge", "service": "alpha"}, 422, "not owned by team 'edge'"),
        ({"since": "yesterday"}, 422, "since"),
    ],
)
def test_bad_queries_are_refused(
    client: TestClient,
    world: tuple[Person, History, datetime, datetime],
    params: dict[str, str],
    code: int,
    message: str,
) -> None:
    dev, _, _, _ = world
    answer = client.get("/api/v1/delivery/metrics", params=params, headers=dev.headers)
    assert answer.status_code == code, answer.text
    assert message in answer.text
