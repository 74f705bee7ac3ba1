"""Single sign-out: signing out of a console session from SSO ends the provider's session too."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from flywheel.app import create_app
from flywheel.config import Settings
from flywheel.db import Database
from tests.integration.web.conftest import csrf_of
from tests.oidc_support import OidcProvider, ProviderBrowser, oidc_provider

CALLBACK = "http://testserver/sign-in/oidc/callback"
ROLE_MAP = {"sre": ["operator"], "eng-payments": ["developer"]}
_CONTINUE = re.compile(r'id="provider-sign-out" href="([^"]+)"')


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with oidc_provider(CALLBACK) as running:
        yield running


@pytest.fixture(scope="module")
def provider_without_logout() -> Iterator[OidcProvider]:
    with oidc_provider(CALLBACK, logout=False) as running:
        yield running


def _console(settings: Settings, db: Database, provider: OidcProvider) -> TestClient:
    configured = settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_client_id": provider.client_id,
            "oidc_client_secret": provider.client_secret,
            "oidc_role_map": ROLE_MAP,
        }
    )
    return TestClient(create_app(configured, db), raise_server_exceptions=False)


@pytest.fixture
def browser() -> Iterator[ProviderBrowser]:
    at_provider = ProviderBrowser()
    yield at_provider
    at_provider.close()


def _sign_on(console: TestClient, browser: ProviderBrowser) -> bool:
    """Sign on as oscar; whether the provider asked for credentials."""
    start = console.get("/sign-in/oidc", follow_redirects=False)
    back, asked = browser.sign_on(start.headers["location"], "oscar")
    parts = urlsplit(back)
    done = console.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/", done.text[:300]
    return asked


def _sign_out(console: TestClient) -> object:
    token = csrf_of(console.get("/", headers={"accept": "text/html"}).text)
    return console.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)


def test_signing_out_ends_the_session_at_the_provider(
    settings: Settings, db: Database, provider: OidcProvider, browser: ProviderBrowser
) -> None:
    with _console(settings, db, provider) as console:
        assert _sign_on(console, browser) is True
        with db.session() as session:  # the ID token is kept with the session, encrypted
            stored = session.execute(text("SELECT id_token FROM console_sessions")).scalar_one()
        assert stored.startswith("fwenc1:")
        assert _sign_on(console, browser) is False  # the provider remembers oscar
        out = _sign_out(console)
        assert out.status_code == 200  # type: ignore[attr-defined]
        assert console.get("/", follow_redirects=False).status_code == 303  # signed out here
        found = _CONTINUE.search(out.text)  # type: ignore[attr-defined]
        assert found, out.text  # type: ignore[attr-defined]
        url = html.unescape(found.group(1))
        assert f'content="0;url={found.group(1)}"' in out.text  # type: ignore[attr-defined]
        assert url.startswith(f"{provider.issuer}/session/end?")
        query = parse_qs(urlsplit(url).query)
        assert query["post_logout_redirect_uri"] == ["http://testserver/sign-in"]
        assert query["client_id"] == [provider.client_id]
        assert query["id_token_hint"][0].count(".") == 2  # a JWT
        assert browser.sign_out(url) == "http://testserver/sign-in"
        assert _sign_on(console, browser) is True  # credentials asked again


def test_sign_out_is_local_when_the_provider_has_no_end_session_endpoint(
    settings: Settings,
    db: Database,
    provider_without_logout: OidcProvider,
    browser: ProviderBrowser,
) -> None:
    with _console(settings, db, provider_without_logout) as console:
        assert _sign_on(console, browser) is True
        out = _sign_out(console)
        assert out.status_code == 303  # type: ignore[attr-defined]
        assert out.headers["location"] == "/sign-in?notice=signed-out"  # type: ignore[attr-defined]
        assert console.get("/", follow_redirects=False).status_code == 303
        assert _sign_on(console, browser) is False  # the provider's session is untouched
