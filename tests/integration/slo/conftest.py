"""Fixtures of the SLO tests: an operator, services in the CMDB, provider clean-up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

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
def registry() -> Iterator[sources.Registry]:
    """The provider registry, emptied of whatever a test registers."""
    yield sources.REGISTRY
    for name in ("test-incidents", "test-probes", "test-open", "test-sink"):
        sources.unregister(name)


def minute_floor(moment: datetime) -> datetime:
    """The start of the minute a moment falls in (UTC)."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)
