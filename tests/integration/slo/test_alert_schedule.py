"""Burn-rate alerts run by themselves: a DBOS schedule, one run per interval."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dbos import DBOS
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flywheel.app import create_app
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.incident.models import Incident, IncidentEvent
from flywheel.slo import schedule
from tests.factories import Bake, Person, record_deployment


def test_cron_of_an_interval() -> None:
    assert schedule.cron(1) == "0 * * * * *"
    assert schedule.cron(5) == "0 */5 * * * *"
    with pytest.raises(ValueError, match="give 1 to 60"):
        schedule.cron(0)


def test_turned_off_it_launches_nothing(settings: Settings, db: Database) -> None:
    assert settings.slo_alert_minutes == 0
    assert schedule.start(db, settings) is False


def test_the_app_schedules_rounds_that_run_once_per_interval(
    settings: Settings, db: Database, operator: Person
) -> None:
    settings.slo_alert_minutes = 1
    minute = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=5)
    with db.session(write=True) as session:
        record_deployment(
            session,
            service="shop",
            started_at=minute - timedelta(days=1),
            finished_at=minute - timedelta(days=1),
            bakes=[Bake(minute - timedelta(days=1), 100_000)],
        )
        record_deployment(
            session,
            service="shop",
            started_at=minute - timedelta(minutes=20),
            finished_at=minute - timedelta(minutes=2),
            bakes=[Bake(minute - timedelta(minutes=3), 2_000, 100)],
        )
        session.commit()
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        slo = {"service": "shop", "name": "avail", "objective": 99.9, "source": "deployments"}
        assert client.post("/api/v1/slos", json=slo, headers=operator.headers).status_code == 201
        found = DBOS.get_schedule(schedule.SCHEDULE)
        assert found is not None and found["schedule"] == "0 * * * * *"
        # The round of `minute`, started twice (two workers, or a retry): one workflow, one run.
        around = (minute - timedelta(seconds=1), minute + timedelta(seconds=1))
        first = DBOS.backfill_schedule(schedule.SCHEDULE, *around)
        second = DBOS.backfill_schedule(schedule.SCHEDULE, *around)
        assert [h.workflow_id for h in first] == [h.workflow_id for h in second]
        assert len(first) == 1
        first[0].get_result()
        steps = DBOS.list_workflow_steps(first[0].workflow_id)
        assert [s["function_name"] for s in steps] == ["flywheel.slo.raise_alerts"]
        assert steps[0]["output"]["firing"] >= 2
    with db.session() as session:
        incidents = session.scalars(select(Incident).where(Incident.service == "shop")).all()
        firing = session.scalar(select(func.count()).where(IncidentEvent.kind == "alert.firing"))
    assert [i.priority for i in incidents] == [1]
    assert incidents[0].opened_at == minute  # evaluated as of the scheduled minute
    assert firing == steps[0]["output"]["firing"]
