"""Burn-rate alerts evaluated by themselves: a DBOS schedule every few minutes.

Every worker process runs DBOS's scheduler, but each firing is a workflow whose id is the
schedule's name and the scheduled minute (`sched-<name>-<time>`), kept in the shared work
database: several workers start it once per interval, and a run interrupted by a crash is
resumed, not repeated. `FLYWHEEL_SLO_ALERT_MINUTES=0` leaves evaluation to the API.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from dbos import DBOS

from flywheel.config import Settings, get_settings
from flywheel.db import Database
from flywheel.deploy import durable
from flywheel.slo import service

log = logging.getLogger("flywheel.slo")

SCHEDULE = "flywheel.slo.burn-alerts"
_settings: dict[str, Settings] = {}


def cron(minutes: int) -> str:
    """The cron expression (seconds first) of a run every `minutes` minutes."""
    if not 1 <= minutes <= 60:
        raise ValueError(f"alert evaluation every {minutes} minutes: give 1 to 60")
    return "0 * * * * *" if minutes == 1 else f"0 */{minutes} * * * *"


def run_round(database: Database, settings: Settings, now: datetime) -> dict[str, int]:
    """Evaluate every SLO at `now`, hand the alerts to the sinks, commit; what was found."""
    with database.session(write=True) as session:
        found = service.raise_alerts(session, settings=settings, now=now)
        session.commit()
    return {"firing": len(found.firing), "quiet": len(found.quiet)}


@DBOS.step(name="flywheel.slo.raise_alerts")
def _raise(at: str) -> dict[str, int]:
    settings = _settings.get("current") or get_settings()
    return run_round(durable.database(), settings, datetime.fromisoformat(at))


@DBOS.workflow(name="flywheel.slo.burn_alerts")
def burn_alert_workflow(scheduled_at: datetime, context: Any) -> None:
    """One scheduled round of burn-rate alerts, evaluated as of its scheduled time."""
    found = _raise(scheduled_at.isoformat())
    log.info("burn-rate alerts at %s: %s", scheduled_at.isoformat(), found)


def start(database: Database, settings: Settings) -> bool:
    """Launch durable work and (re)apply the schedule; False when it is turned off."""
    if settings.slo_alert_minutes <= 0:
        return False
    _settings["current"] = settings
    try:
        durable.launch(database, settings)
        schedule = cron(settings.slo_alert_minutes)
        DBOS.apply_schedules(
            [{"schedule_name": SCHEDULE, "workflow_fn": burn_alert_workflow, "schedule": schedule}]
        )
    except Exception:  # no schema yet, or the work database is unreachable: /readyz says so
        log.warning("could not schedule burn-rate alert evaluation", exc_info=True)
        return False
    return True
