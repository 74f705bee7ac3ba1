"""A small estate, an Alertmanager integration and the people who respond."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flywheel.auth.roles import Role
from flywheel.db import Database
from flywheel.incident.models import Alert, Incident, IncidentEvent
from tests.factories import Person, make_estate, make_integration, make_person

WEBHOOK = "/api/v1/integrations/alertmanager"


@dataclass(frozen=True)
class Desk:
    """The incident desk: a client, an integration token, responders and an admin."""

    client: TestClient
    db: Database
    token: str
    admin: Person
    oncall: Person
    auditor: Person

    def send(self, payload: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        """Post a webhook as Alertmanager does; the answer must be 200."""
        headers = {"Authorization": f"Bearer {token or self.token}"}
        response = self.client.post(WEBHOOK, json=payload, headers=headers)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def incidents(self) -> list[Incident]:
        with self.db.session() as session:
            return list(session.scalars(select(Incident).order_by(Incident.id)))

    def alerts(self) -> list[Alert]:
        with self.db.session() as session:
            return list(session.scalars(select(Alert).order_by(Alert.id)))

    def event_kinds(self, incident_id: int) -> list[str]:
        with self.db.session() as session:
            query = select(IncidentEvent.kind).where(IncidentEvent.incident_id == incident_id)
            return list(session.scalars(query.order_by(IncidentEvent.id)))

    def count(self, model: type[Any]) -> int:
        with self.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def desk(client: TestClient, db: Database) -> Desk:
    with db.session(write=True) as session:
        make_estate(session)
        session.commit()
    return Desk(
        client=client,
        db=db,
        token=make_integration(db),
        admin=make_person(db, Role.ADMIN, username="root"),
        oncall=make_person(db, Role.OPERATOR, username="olga"),
        auditor=make_person(db, Role.AUDITOR, username="audrey"),
    )
