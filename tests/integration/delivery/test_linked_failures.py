"""Incidents linked to changes count as failures of the change's production run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.db import Database, utcnow
from flywheel.incident import slo_providers
from flywheel.incident.models import IncidentLink
from tests.factories import make_ci, make_person, record_change, record_deployment, record_incident


def test_a_linked_incident_fails_the_run_and_its_mitigation_recovers_it(
    client: TestClient, db: Database
) -> None:
    day = utcnow().replace(microsecond=0) - timedelta(days=2)
    m = timedelta(minutes=1)
    with db.session(write=True) as session:
        make_ci(session, "shop", "business_service")
        bad = record_change(session, service="shop", created_at=day - 60 * m, commits=[day])
        good = record_change(session, service="shop", created_at=day, commits=[day])
        failed_run = record_deployment(
            session,
            service="shop",
            change_id=bad.id,
            started_at=day,
            finished_at=day + 10 * m,
        )
        record_deployment(
            session,
            service="shop",
            change_id=good.id,
            started_at=day + 300 * m,
            finished_at=day + 310 * m,
        )
        incident = record_incident(
            session,
            service="shop",
            priority=2,
            opened_at=day + 20 * m,
            resolved_at=day + 90 * m,
            rollback_at=day + 40 * m,
        )
        session.add(
            IncidentLink(incident_id=incident.id, kind="change", ref=bad.number, created_by="t")
        )
        # A link to a change that does not exist, or not a change number, is ignored.
        other = record_incident(session, service="shop", priority=3, opened_at=day + 400 * m)
        session.add(
            IncidentLink(incident_id=other.id, kind="change", ref="CHG9999999", created_by="t")
        )
        session.commit()
        found = slo_providers.linked_failures(session, start=day - 60 * m, end=utcnow())
    assert [(f.deployment_id, f.detected_at, f.recovered_at) for f in found] == [
        (failed_run.id, day + 20 * m, day + 40 * m)
    ]
    dev = make_person(db, Role.DEVELOPER)
    params = {"service": "shop", "since": (day - 60 * m).isoformat()}
    answer = client.get("/api/v1/delivery/metrics", params=params, headers=dev.headers)
    assert answer.status_code == 200, answer.text
    keys = answer.json()["services"][0]
    assert (keys["change_failure_rate"]["failed"], keys["change_failure_rate"]["deployments"]) == (
        1,
        2,
    )
    # Recovery runs from the failed run's start to the rollback the incident asked for.
    assert keys["recovery_time"]["median_s"] == pytest.approx(40 * 60)
