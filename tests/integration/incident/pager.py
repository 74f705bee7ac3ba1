"""A paging desk for escalation tests: people, a schedule, a policy, contacts and a clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from flywheel.config import Settings
from flywheel.db import utcnow
from flywheel.incident import escalation_worker, notify_service
from flywheel.incident.escalation_models import Escalation, NotificationDelivery
from flywheel.incident.models import IncidentEvent
from tests.factories import Person, am_alert, am_payload
from tests.integration.incident.conftest import Desk

POLICIES = "/api/v1/escalation-policies"


@dataclass
class Pager:
    """The desk plus what paging needs; `tick(minutes)` runs the worker at start + minutes."""

    desk: Desk
    settings: Settings
    dana: Person
    erik: Person
    start: datetime
    started: bool = False

    def api(self, method: str, url: str, body: Any = None, who: Person | None = None) -> Any:
        headers = (who or self.desk.admin).headers
        response = self.desk.client.request(method, url, json=body, headers=headers)
        assert response.is_success, f"{method} {url}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def contact(self, owner: str, channel: str, address: str, **extra: str) -> None:
        kind = "teams" if owner.startswith("team:") else "users"
        name = owner.removeprefix("team:")
        body = {"channel": channel, "address": address, **extra}
        self.api("POST", f"/api/v1/{kind}/{name}/contact-methods", body)

    def policy(self, *, steps: list[dict[str, Any]], repeat: int = 0, key: str = "web") -> None:
        body = {"key": key, "name": key, "services": ["checkout"], "repeat": repeat, "steps": steps}
        self.api("POST", POLICIES, body)

    def fire(self, fingerprint: str = "fp1", status: str = "firing") -> int:
        alert = am_alert(fingerprint, status, instance="web1", service="checkout")
        self.desk.send(am_payload(alert, status=status))
        if not self.started:  # the clock starts just after the first incident opens
            self.start, self.started = utcnow() + timedelta(seconds=1), True
        return self.desk.incidents()[-1].id

    def tick(self, minutes: float = 0) -> int:
        notifiers = notify_service.notifiers_for(self.settings)
        moment = self.start + timedelta(minutes=minutes)
        return escalation_worker.tick(self.desk.db, self.settings, notifiers, now=moment)

    def deliveries(self, incident_id: int | None = None) -> list[NotificationDelivery]:
        with self.desk.db.session() as session:
            query = select(NotificationDelivery).order_by(NotificationDelivery.id)
            if incident_id is not None:
                query = query.where(NotificationDelivery.incident_id == incident_id)
            return list(session.scalars(query))

    def escalation(self, incident_id: int) -> Escalation:
        with self.desk.db.session() as session:
            found = session.scalar(select(Escalation).where(Escalation.incident_id == incident_id))
            assert found is not None
            return found

    def timeline(self, incident_id: int, prefix: str = "") -> list[str]:
        with self.desk.db.session() as session:
            query = select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
            events = session.scalars(query.order_by(IncidentEvent.id))
            return [e.summary for e in events if e.kind.startswith(prefix)]


def make_pager(desk: Desk, settings: Settings, dana: Person, erik: Person) -> Pager:
    """A pager with an on-call schedule 'web' whose only member is dana."""
    pager = Pager(desk, settings, dana, erik, utcnow() + timedelta(seconds=1))
    schedule = {
        "key": "web",
        "name": "Web",
        "time_zone": "UTC",
        "start_date": "2025-01-01",
        "rotation": "weekly",
        "members": ["dana"],
    }
    pager.api("POST", "/api/v1/oncall/schedules", schedule)
    return pager
