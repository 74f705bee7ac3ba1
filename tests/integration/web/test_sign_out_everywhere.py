"""Sign out everywhere: from your account page, by an admin, by deactivation or a new password."""

from __future__ import annotations

from fastapi.testclient import TestClient

from flywheel.audit import service as audit_service
from flywheel.auth import service as auth_service
from flywheel.auth.roles import Role
from flywheel.auth.schemas import UserUpdate
from flywheel.db import Database
from flywheel.web.models import ConsoleSession
from tests.factories import SYSTEM
from tests.integration.web.conftest import Console, csrf_of, make_signed_up


def _second_browser(client: TestClient) -> Console:
    """Another cookie jar on the same app: a second browser or device."""
    other = TestClient(client.app, raise_server_exceptions=False)
    return Console(other)


def _revocations(db: Database, username: str) -> list[dict[str, object]]:
    with db.session() as session:
        flt = audit_service.AuditFilter(action="auth.sessions.revoke_all", object_id=username)
        return [
            {"actor": e.actor, **(e.after or {})}
            for e in audit_service.list_events(session, flt=flt)
        ]


def test_sign_out_everywhere_ends_the_other_browsers_session(
    console: Console, db: Database
) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    laptop, phone = console, _second_browser(console.client)
    laptop.sign_in("ann")
    phone.sign_in("ann")
    assert phone.get("/").status_code == 200
    account = laptop.get("/account")
    assert account.status_code == 200 and "2 places" in account.text
    done = laptop.client.post(
        "/account/sign-out-everywhere",
        data={"csrf_token": csrf_of(account.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/sign-in?notice=signed-out-everywhere"
    refused = phone.get("/")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/sign-in")
    assert laptop.get("/").status_code == 303
    with db.session() as session:
        assert session.query(ConsoleSession).count() == 0
    (event,) = _revocations(db, "ann")[-1:]
    assert event == {"actor": "ann", "reason": "requested", "session_generation": 2}
    assert laptop.sign_in("ann").status_code == 303  # signing in again works
    assert laptop.get("/").status_code == 200


def test_sign_out_everywhere_without_the_csrf_token_is_refused(
    console: Console, db: Database
) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    console.sign_in("ann")
    answer = console.client.post("/account/sign-out-everywhere", data={}, follow_redirects=False)
    assert answer.status_code == 403 and "reload it" in answer.text
    forged = console.client.post(
        "/account/sign-out-everywhere",
        data={"csrf_token": "0" * 64},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert console.get("/").status_code == 200


def test_an_admin_ends_someone_elses_sessions_from_their_page(
    console: Console, db: Database
) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    make_signed_up(db, "root", Role.ADMIN)
    ann = _second_browser(console.client)
    ann.sign_in("ann")
    console.sign_in("root")
    page = console.get("/users/ann")
    assert page.status_code == 200 and "End all of ann" in page.text
    done = console.post("/users/ann/sign-out-everywhere", {}, page="/users/ann")
    assert done.status_code == 303 and done.headers["location"] == "/users/ann?notice=signed-out"
    assert ann.get("/").status_code == 303
    assert console.get("/").status_code == 200  # the admin's own session goes on
    assert _revocations(db, "ann")[-1]["actor"] == "root"


def test_someone_who_may_not_manage_users_cannot_sign_others_out(
    console: Console, db: Database
) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    make_signed_up(db, "otto", Role.OPERATOR)
    ann = _second_browser(console.client)
    ann.sign_in("ann")
    console.sign_in("otto")
    page = console.get("/users/ann")
    assert page.status_code == 200 and "End all of ann" not in page.text
    refused = console.post("/users/ann/sign-out-everywhere", {}, page="/users/ann")
    assert refused.status_code == 403
    assert ann.get("/").status_code == 200


def test_a_new_password_or_deactivation_ends_every_session(console: Console, db: Database) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    make_signed_up(db, "root", Role.ADMIN)
    console.sign_in("ann")
    with db.session(write=True) as session:
        auth_service.set_password(
            session, actor=SYSTEM, username="ann", password="another long password"
        )
        session.commit()
    assert console.get("/").status_code == 303
    assert console.sign_in("ann", "another long password").status_code == 303
    assert console.get("/").status_code == 200
    with db.session(write=True) as session:
        user = auth_service.get_user(session, username="ann")
        update = UserUpdate(version=user.version, is_active=False)
        auth_service.update_user(session, actor=SYSTEM, username="ann", data=update)
        session.commit()
    with db.session(write=True) as session:  # reactivation does not bring the session back
        user = auth_service.get_user(session, username="ann")
        update = UserUpdate(version=user.version, is_active=True)
        auth_service.update_user(session, actor=SYSTEM, username="ann", data=update)
        session.commit()
    assert console.get("/").status_code == 303
    reasons = [e["reason"] for e in _revocations(db, "ann")]
    assert reasons[-2:] == ["password_changed", "deactivated"]
