"""`flywheel user sign-out`: an operator ends a person's console sessions from the server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flywheel.auth import service as auth_service
from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.errors import Unauthenticated
from flywheel.web import service as console_sessions
from tests.e2e.conftest import Cli
from tests.factories import make_user


def test_user_sign_out_ends_every_console_session(
    cli: Cli, database_url: str, settings: Settings
) -> None:
    cli("init")
    db = Database(database_url, settings)
    try:
        with db.session(write=True) as session:
            user = make_user(session, Role.DEVELOPER, username="ann")
            actor = auth_service.actor_for(user)
            keys = [
                console_sessions.start_session(
                    session, actor=actor, lifetime=timedelta(hours=1), method="password"
                )[1]
                for _ in range(2)
            ]
            session.commit()
        done = cli("user", "sign-out", "ann")
        assert "signed ann out everywhere (2 console sessions ended)" in done.stdout
        with db.session() as session:
            for key in keys:
                with pytest.raises(Unauthenticated):
                    console_sessions.session_actor(session, key=key)
    finally:
        db.dispose()
    ghost = cli("user", "sign-out", "ghost", check=False)
    assert ghost.returncode == 1 and "no user 'ghost'" in ghost.stderr
