"""Signing in and out of the console: cookies, timeouts, tokens, and what ends a session."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import update

from flywheel.app import create_app
from flywheel.audit import service as audit_service
from flywheel.auth import service as auth_service
from flywheel.auth.roles import Role
from flywheel.auth.schemas import UserUpdate
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.web.models import ConsoleSession
from flywheel.web.security import SESSION_COOKIE
from tests.factories import SYSTEM, make_person
from tests.integration.web.conftest import PASSWORD, Console, csrf_of, make_signed_up


def test_pages_need_a_sign_in_and_return_where_asked(console: Console, db: Database) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    answer = console.get("/changes?state=authorize")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Fchanges%3Fstate%3Dauthorize"
    signed = console.sign_in("ann", next="/changes?state=authorize")
    assert signed.status_code == 303
    assert signed.headers["location"] == "/changes?state=authorize"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    page = console.get("/changes")
    assert page.status_code == 200
    assert "Signed in as <strong>ann</strong>" in page.text


def test_wrong_password_says_so_on_the_form(console: Console, db: Database) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    answer = console.sign_in("ann", "not the password")
    assert answer.status_code == 401
    assert "wrong username or password" in answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert console.get("/").status_code == 303


def test_signing_in_with_a_token_or_with_both_kinds(console: Console, db: Database) -> None:
    person = make_person(db, Role.OPERATOR, username="otto")
    both = console.sign_in("otto", "x", token=person.token)
    assert both.status_code == 401 and "not both" in both.text
    page = console.client.get("/sign-in")
    nonce = page.text.split('name="nonce" value="')[1].split('"')[0]
    form = {"nonce": nonce, "token": person.token}
    answer = console.client.post("/sign-in", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert "Signed in as <strong>otto</strong>" in console.get("/").text


def test_a_sign_in_form_from_elsewhere_is_refused(console: Console, db: Database) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    form = {"nonce": "made-up", "username": "ann", "password": PASSWORD}
    answer = console.client.post("/sign-in", data=form, follow_redirects=False)
    assert answer.status_code == 403
    assert "did not come from this console" in answer.text


def test_an_unsafe_next_address_goes_home(console: Console, db: Database) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil"):
        answer = console.sign_in("ann", next=target)
        assert answer.headers["location"] == "/", target


def test_sign_out_ends_the_session_on_the_server(console: Console, db: Database) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    console.sign_in("ann")
    stolen = console.client.cookies.get(SESSION_COOKIE)
    assert stolen
    token = csrf_of(console.get("/").text)
    out = console.client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/sign-in?notice=signed-out"
    assert "You are signed out." in console.get("/sign-in?notice=signed-out").text
    console.client.cookies.set(SESSION_COOKIE, stolen)
    assert console.get("/").status_code == 303
    with db.session() as session:
        flt = audit_service.AuditFilter(object_type="console_session")
        actions = [e.action for e in audit_service.list_events(session, flt=flt)]
    assert actions == ["console.sign_in", "console.sign_out"]


def test_sign_out_without_the_csrf_token_is_refused(console: Console, db: Database) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    console.sign_in("ann")
    answer = console.client.post("/sign-out", data={}, follow_redirects=False)
    assert answer.status_code == 403
    assert console.get("/").status_code == 200


def test_an_idle_session_ends(
    console: Console, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    hour_ago = int(time.time()) - 3600
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: hour_ago)
    console.sign_in("ann")  # the cookie is signed an hour in the past: idle for 60 > 30 min
    monkeypatch.undo()
    answer = console.get("/")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in")


def test_an_active_session_gets_a_fresh_cookie(
    console: Console, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    ten_minutes_ago = int(time.time()) - 600
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: ten_minutes_ago)
    console.sign_in("ann")
    monkeypatch.undo()
    answer = console.get("/")
    assert answer.status_code == 200
    assert answer.headers["set-cookie"].startswith(f"{SESSION_COOKIE}=")


def test_a_session_ends_at_its_absolute_limit(console: Console, db: Database) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    console.sign_in("ann")
    assert console.get("/").status_code == 200
    with db.session(write=True) as session:
        session.execute(update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert console.get("/").status_code == 303


def test_deactivating_the_user_or_revoking_the_token_ends_it(
    console: Console, db: Database
) -> None:
    person = make_person(db, Role.DEVELOPER, username="tina")
    page = console.client.get("/sign-in")
    nonce = page.text.split('name="nonce" value="')[1].split('"')[0]
    console.client.post("/sign-in", data={"nonce": nonce, "token": person.token})
    assert console.get("/").status_code == 200
    with db.session(write=True) as session:
        (token,) = auth_service.list_tokens(session, actor=SYSTEM, username="tina")
        auth_service.revoke_token(session, actor=SYSTEM, token_id=token.id)
        session.commit()
    assert console.get("/").status_code == 303
    make_signed_up(db, "ann", Role.DEVELOPER)
    make_signed_up(db, "root", Role.ADMIN)  # someone must stay admin
    console.sign_in("ann")
    assert console.get("/").status_code == 200
    with db.session(write=True) as session:
        user = auth_service.get_user(session, username="ann")
        data = UserUpdate(version=user.version, is_active=False)
        auth_service.update_user(session, actor=SYSTEM, username="ann", data=data)
        session.commit()
    assert console.get("/").status_code == 303


def test_the_cookie_is_secure_over_https(settings: Settings, db: Database) -> None:
    make_signed_up(db, "ann", Role.DEVELOPER)
    with TestClient(create_app(settings, db), base_url="https://testserver") as client:
        answer = Console(client).sign_in("ann")
    assert answer.status_code == 303
    assert "Secure" in answer.headers["set-cookie"]
