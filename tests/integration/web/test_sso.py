"""Console sign-on through a real OpenID Connect provider, with groups mapped to roles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from flywheel.app import create_app
from flywheel.auth import service as auth_service
from flywheel.config import Settings
from flywheel.db import Database
from tests.oidc_support import OidcProvider, log_in_at_provider, oidc_provider

CALLBACK = "http://testserver/sign-in/oidc/callback"
ROLE_MAP = {"eng-payments": ["developer"], "sre": ["operator"], "cab": ["change_manager"]}


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with oidc_provider(CALLBACK) as running:
        yield running


@pytest.fixture
def console(settings: Settings, db: Database, provider: OidcProvider) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_client_id": provider.client_id,
            "oidc_client_secret": provider.client_secret,
            "oidc_role_map": ROLE_MAP,
            "oidc_team_map": {"eng-payments": ["payments"]},
        }
    )
    with TestClient(create_app(configured, db), raise_server_exceptions=False) as client:
        yield client


def _sign_on(console: TestClient, login: str, next_url: str = "/") -> object:
    start = console.get(f"/sign-in/oidc?next={next_url}", follow_redirects=False)
    assert start.status_code == 303
    back = urlsplit(log_in_at_provider(start.headers["location"], login))
    return console.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_first_sign_on_creates_the_user_with_mapped_roles(
    console: TestClient, db: Database
) -> None:
    assert "Sign in with single sign-on" in console.get("/sign-in").text
    done = _sign_on(console, "oscar", "/changes")
    assert done.status_code == 303 and done.headers["location"] == "/changes"  # type: ignore[attr-defined]
    assert console.get("/").status_code == 200
    with db.session() as session:
        user = auth_service.get_user(session, username="oscar")
        assert sorted(user.role_names) == ["developer", "operator"]
        assert user.email == "oscar@example.com"


def test_roles_follow_the_groups_at_every_sign_on(console: TestClient, db: Database) -> None:
    from flywheel.auth.roles import Role
    from flywheel.auth.schemas import UserUpdate
    from tests.factories import SYSTEM, make_person

    make_person(db, Role.ADMIN)  # carla must not be the last admin when her roles drop
    _sign_on(console, "carla")
    with db.session(write=True) as session:
        carla = auth_service.get_user(session, username="carla")
        update = UserUpdate(version=carla.version, roles=["admin"])
        auth_service.update_user(session, actor=SYSTEM, username="carla", data=update)
        session.commit()
    console.cookies.clear()
    _sign_on(console, "carla")
    with db.session() as session:
        assert auth_service.get_user(session, username="carla").role_names == ["change_manager"]


def test_someone_whose_groups_grant_no_role_is_refused(console: TestClient, db: Database) -> None:
    refused = _sign_on(console, "nobody")
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert "none of their groups grants a Flywheel role" in refused.text  # type: ignore[attr-defined]
    assert console.get("/", follow_redirects=False).status_code in (303, 401)
    with db.session() as session:
        assert "nobody" not in [u.username for u in auth_service.list_users(session)]


def test_a_forged_or_replayed_callback_is_refused(console: TestClient) -> None:
    start = console.get("/sign-in/oidc", follow_redirects=False)
    back = urlsplit(log_in_at_provider(start.headers["location"], "dana"))
    forged = console.get(f"{back.path}?code=made-up&state=wrong", follow_redirects=False)
    assert forged.status_code == 401 and "does not belong to this sign-in" in forged.text
    console.cookies.clear()
    replayed = console.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert replayed.status_code == 401 and "did not start here" in replayed.text


def test_sign_on_is_absent_until_configured(client: TestClient) -> None:
    assert "single sign-on" not in client.get("/sign-in").text
    assert client.get("/sign-in/oidc").status_code == 404
    assert json.dumps(ROLE_MAP)  # the map is plain JSON, as FLYWHEEL_OIDC_ROLE_MAP takes it
