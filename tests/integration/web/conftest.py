"""A browser-like client for the console: signs in through the form and posts forms with CSRF."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient

from flywheel.auth import service as auth_service
from flywheel.auth.roles import Role
from flywheel.db import Database
from tests.factories import SYSTEM, make_user

PASSWORD = "a long enough password"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_NONCE = re.compile(r'name="nonce" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Console:
    """The console as one browser sees it."""

    client: TestClient

    def sign_in(self, username: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
        """Fill in the sign-in form and send it; the redirect is not followed."""
        page = self.client.get("/sign-in")
        found = _NONCE.search(page.text)
        assert found, page.text
        form = {"nonce": found.group(1), "username": username, "password": password, **extra}
        return self.client.post("/sign-in", data=form, follow_redirects=False)

    def get(self, url: str) -> httpx.Response:
        """A page, as a browser asks for it."""
        return self.client.get(url, headers={"accept": "text/html"}, follow_redirects=False)

    def post(self, url: str, form: dict[str, str], *, page: str | None = None) -> httpx.Response:
        """Send a form with the CSRF token from `page` (default: `url` without its last part)."""
        source = self.get(page or url.rsplit("/", 1)[0]).text
        data = {"csrf_token": csrf_of(source), **form}
        return self.client.post(url, data=data, follow_redirects=False)


def make_signed_up(db: Database, username: str, *roles: Role) -> None:
    """A user with a password."""
    with db.session(write=True) as session:
        make_user(session, *roles, username=username)
        auth_service.set_password(session, actor=SYSTEM, username=username, password=PASSWORD)
        session.commit()


@pytest.fixture
def console(client: TestClient) -> Console:
    return Console(client)


@pytest.fixture
def people(db: Database) -> dict[str, str]:
    """One user per role, with passwords: name -> role."""
    cast = {
        "carl": Role.CHANGE_MANAGER,
        "cleo": Role.CHANGE_MANAGER,
        "dana": Role.DEVELOPER,
        "otto": Role.OPERATOR,
        "audrey": Role.AUDITOR,
        "root": Role.ADMIN,
    }
    for name, role in cast.items():
        make_signed_up(db, name, role)
    return {name: role.value for name, role in cast.items()}
