"""Sign out everywhere over the API: yourself, or anyone as an administrator (audited)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from flywheel.audit import service as audit_service
from flywheel.auth import service as auth_service
from flywheel.auth.roles import Role
from flywheel.db import Database
from flywheel.errors import Unauthenticated
from flywheel.web import service as console_sessions
from tests.factories import make_person


def test_sign_out_everywhere_by_api(client: TestClient, db: Database) -> None:
    ann = make_person(db, Role.DEVELOPER, username="ann")
    admin = make_person(db, Role.ADMIN)
    with db.session(write=True) as session:
        actor = auth_service.actor_for(auth_service.get_user(session, username="ann"))
        _, key = console_sessions.start_session(
            session, actor=actor, lifetime=timedelta(hours=1), method="password"
        )
        session.commit()

    def session_alive() -> bool:
        with db.session() as session:
            try:
                console_sessions.session_actor(session, key=key)
            except Unauthenticated:
                return False
            return True

    assert session_alive()
    refused = client.post("/api/v1/users/ann/sessions/revoke-all", headers=ann.headers)
    assert refused.status_code == 403 and session_alive()
    own = client.post("/api/v1/me/sessions/revoke-all", headers=ann.headers)
    assert own.status_code == 200 and own.json()["username"] == "ann"
    assert set(own.json()) == {"username", "ended_at"}  # nothing secret comes back
    assert not session_alive()
    assert client.get("/api/v1/me", headers=ann.headers).status_code == 200  # tokens go on
    by_admin = client.post("/api/v1/users/ann/sessions/revoke-all", headers=admin.headers)
    assert by_admin.status_code == 200
    ghost = client.post("/api/v1/users/ghost/sessions/revoke-all", headers=admin.headers)
    assert ghost.status_code == 404
    with db.session() as session:
        flt = audit_service.AuditFilter(action="auth.sessions.revoke_all", object_id="ann")
        actors = [e.actor for e in audit_service.list_events(session, flt=flt)]
    assert actors[-2:] == ["ann", admin.username]
