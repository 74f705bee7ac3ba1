"""`GET /metrics` in the Prometheus text format: what it says, and who may scrape it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.slo import sources
from tests.factories import Bake, make_ci, make_person, record_change, record_deployment

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-z_]+="[^"\\\n]*",?)*\})? -?[0-9.e+-]+$')


def _history(db: Database) -> None:
    now = utcnow()
    with db.session(write=True) as session:
        make_ci(session, "shop", "business_service")
        make_ci(session, "quiet", "business_service")
        for hours, state in ((30, "succeeded"), (20, "succeeded"), (10, "rolled_back")):
            change = record_change(
                session,
                service="shop",
                created_at=now - timedelta(hours=hours + 2),
                commits=[now - timedelta(hours=hours + 4)],
            )
            record_deployment(
                session,
                service="shop",
                change_id=change.id,
                state=state,
                started_at=now - timedelta(hours=hours),
                finished_at=now - timedelta(hours=hours - 1),
                bakes=[Bake(now - timedelta(hours=hours - 0.5), 1_000, 1)],
            )
        session.commit()


def test_metrics_need_a_token_and_speak_the_text_format(client: TestClient, db: Database) -> None:
    _history(db)
    viewer = make_person(db, Role.AUDITOR)
    operator = make_person(db, Role.OPERATOR)
    slo = {"service": "shop", "name": "avail", "objective": 99.9, "source": "deployments"}
    assert client.post("/api/v1/slos", json=slo, headers=operator.headers).status_code == 201
    quiet = {**slo, "service": "quiet"}
    assert client.post("/api/v1/slos", json=quiet, headers=operator.headers).status_code == 201
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    answer = client.get("/metrics", headers=viewer.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = answer.text.strip().splitlines()
    samples = [line for line in lines if not line.startswith("#")]
    assert all(SAMPLE.match(line) for line in samples), [s for s in samples if not SAMPLE.match(s)]
    assert 'flywheel_deployments_total{service="shop",state="succeeded"} 2.0' in samples
    assert 'flywheel_deployments_total{service="shop",state="rolled_back"} 1.0' in samples
    assert "# TYPE flywheel_deployments_total counter" in lines
    assert any(s.startswith('flywheel_lead_time_median_seconds{service="shop"} ') for s in samples)
    assert 'flywheel_change_failure_ratio{service="shop"} 0.3333333333333333' in samples
    remaining = (
        'flywheel_error_budget_remaining_ratio{service="shop",slo="avail",objective="availability"}'
    )
    # 3 errors of 3,000 requests against a 3-request budget: exactly spent.
    value = next(float(s.split()[-1]) for s in samples if s.startswith(remaining + " "))
    assert value == pytest.approx(0.0, abs=1e-9)
    # No data for 'quiet': its series are absent, not zero.
    assert not any('service="quiet"' in s for s in samples)
    # The incident domain (installed with the app) counts open incidents: none, so zeros.
    for priority in ("P1", "P2", "P3", "P4"):
        assert f'flywheel_open_incidents{{priority="{priority}"}} 0.0' in samples


def test_open_incidents_by_priority_come_from_the_registry(
    client: TestClient, db: Database, settings: Settings
) -> None:
    settings.metrics_public = True

    def open_incidents(session: Session) -> dict[str, int]:
        return {"P1": 2, "P3": 1}

    sources.register_open_incidents("test-open", open_incidents)
    try:
        answer = client.get("/metrics")
    finally:
        sources.unregister("test-open")
    assert answer.status_code == 200, answer.text
    assert 'flywheel_open_incidents{priority="P1"} 2.0' in answer.text
    assert 'flywheel_open_incidents{priority="P3"} 1.0' in answer.text
