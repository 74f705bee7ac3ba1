"""Fixtures of the SLO tests: an operator, services in the CMDB, provider clean-up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.db import Database
from flywheel.slo import sources
from tests.factories import Person, make_ci, make_person


@pytest.fixture
def operator(db: Database) -> Person:
    """An operator (may define SLOs) with the services shop and cart in the CMDB."""
    with db.session(write=True) as session:
        make_ci(session, "shop", "business_service", criticality=1)
        make_ci(session, "cart", "business_service", criticality=2)
        make_ci(session, "db1", "database")
        session.commit()
    return make_person(db, Role.OPERATOR)


@pytest.fixture
def registry(client: TestClient) -> Iterator[sources.Registry]:
    """The provider registry, empty for the test (after the app registered its own), restored."""
    saved = sources.snapshot()
    sources.restore(sources.Registry())
    yield sources.REGISTRY
    sources.restore(saved)


@pytest.fixture
def installed(client: TestClient) -> Iterator[sources.Registry]:
    """The provider registry as the app installed it, restored after the test."""
    saved = sources.snapshot()
    yield sources.REGISTRY
    sources.restore(saved)


def minute_floor(moment: datetime) -> datetime:
    """The start of the minute a moment falls in (UTC)."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)
