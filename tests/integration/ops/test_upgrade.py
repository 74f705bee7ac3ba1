"""Upgrading a database filled at the first release's schema keeps its data and audit chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flywheel import migrate
from flywheel.audit import service as audit_service
from flywheel.audit.models import AuditEvent
from flywheel.auth import service as auth_service
from flywheel.auth.schemas import TeamCreate, UserCreate
from flywheel.config import Settings
from flywheel.db import Database
from tests.factories import SYSTEM
from tests.support import fresh_postgres_database, postgres_server_url, require_component

OLDEST = "0001"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nothing has migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server = postgres_server_url()
    require_component(server is not None, "no PostgreSQL server: set FLYWHEEL_TEST_POSTGRES_URL")
    assert server is not None
    with fresh_postgres_database(server, prefix="flywheel_upgrade") as url:
        yield url


def _fill_at_first_release(db: Database) -> str:
    """Users, a team and a token written through the first release's tables; the token."""
    with db.session(write=True) as session:
        for name in ("dana", "oscar"):
            auth_service.create_user(session, actor=SYSTEM, data=UserCreate(username=name))
        team = TeamCreate(key="payments", name="Payments", members=["dana", "oscar"])
        auth_service.create_team(session, actor=SYSTEM, data=team)
        _, secret = auth_service.create_token(session, actor=SYSTEM, name="ci", username="dana")
        session.commit()
    return secret


def test_upgrade_from_the_oldest_schema_keeps_data_and_chain(
    empty_url: str, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home", database_url=empty_url, secret_key="t")
    migrate.upgrade(empty_url, OLDEST)
    db = Database(empty_url, settings)
    try:
        assert migrate.current_revision(db.engine) == OLDEST
        secret = _fill_at_first_release(db)
        with db.session() as session:
            events_before = session.scalar(select(func.count()).select_from(AuditEvent))
        assert events_before and events_before >= 4

        migrate.upgrade(empty_url)

        assert migrate.current_revision(db.engine) == migrate.head_revision()
        with db.session() as session:
            report = audit_service.verify_chain(session)
            assert report.intact, report.first_break
            assert report.events_checked == events_before
            assert auth_service.authenticate_token(session, secret=secret).name == "dana"
            team = auth_service.get_team(session, key="payments")
            assert auth_service.member_usernames(session, team_id=team.id) == ["dana", "oscar"]
        # The chain goes on from where the old schema left it.
        with db.session(write=True) as session:
            auth_service.create_user(session, actor=SYSTEM, data=UserCreate(username="carla"))
            session.commit()
        with db.session() as session:
            report = audit_service.verify_chain(session)
        assert report.intact and report.events_checked == events_before + 1
    finally:
        db.dispose()
