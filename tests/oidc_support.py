"""A real OpenID Connect provider for the sign-on tests: panva/oidc-provider under Node.js."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import free_port, require_component

PROVIDER_DIR = Path(__file__).parent / "oidc"
CLIENT_ID = "flywheel-console"
CLIENT_SECRET = "a-client-secret-for-the-tests-only"


@dataclass(frozen=True)
class OidcProvider:
    """A running provider: its issuer URL and the client registered with it."""

    issuer: str
    client_id: str
    client_secret: str


@contextmanager
def oidc_provider(redirect_uri: str, *, logout: bool = True) -> Iterator[OidcProvider]:
    """Start the provider with one confidential client; stop it afterwards.

    `logout=False` starts it without an end-session endpoint (no single sign-out).
    """
    node = shutil.which("node")
    installed = (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir()
    require_component(
        node is not None and installed,
        "the test OIDC provider needs Node.js and `npm ci --prefix tests/oidc` (make test does it)",
    )
    assert node is not None
    port = free_port()
    argv = [node, "provider.mjs", str(port), CLIENT_ID, CLIENT_SECRET, redirect_uri]
    argv += [] if logout else ["nologout"]
    process = subprocess.Popen(
        argv, cwd=PROVIDER_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    issuer = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(issuer, process)
        yield OidcProvider(issuer, CLIENT_ID, CLIENT_SECRET)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_ready(issuer: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"the OIDC provider exited: {output}")
        try:
            if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the OIDC provider did not start within 30 s")


def log_in_at_provider(authorize_url: str, login: str) -> str:
    """Sign in on the provider's own login page as `login`; the redirect back to Flywheel."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        answer = browser.get(authorize_url)
        answer = browser.get(answer.url.join(answer.headers["location"]))
        form = re.search(r'<form[^>]*action="([^"]+)"', answer.text)
        assert form, f"no login form at the provider: {answer.text[:300]}"
        fields = {"prompt": "login", "login": login, "password": "anything"}
        answer = browser.post(form.group(1), data=fields)
        for _ in range(5):
            location = answer.url.join(answer.headers["location"])
            if not str(location).startswith(authorize_url.split("/auth")[0]):
                return str(location)
            answer = browser.get(location)
    raise AssertionError("the provider never sent the browser back to Flywheel")


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


class ProviderBrowser:
    """One browser at the provider: its session cookie lasts from one sign-on to the next."""

    def __init__(self) -> None:
        self.http = httpx.Client(follow_redirects=False, timeout=10)

    def close(self) -> None:
        """Forget the browser."""
        self.http.close()

    def sign_on(self, authorize_url: str, login: str) -> tuple[str, bool]:
        """(the redirect back to Flywheel, whether the provider asked for credentials)."""
        provider = authorize_url.split("/auth")[0]
        answer, asked = self.http.get(authorize_url), False
        for _ in range(8):
            location = str(answer.url.join(answer.headers["location"]))
            if not location.startswith(provider):
                return location, asked
            answer = self.http.get(location)
            form = re.search(r'<form[^>]*action="([^"]+)"', answer.text)
            if answer.status_code == 200 and form:
                asked = True
                fields = {"prompt": "login", "login": login, "password": "anything"}
                answer = self.http.post(str(answer.url.join(form.group(1))), data=fields)
        raise AssertionError("the provider never sent the browser back to Flywheel")

    def sign_out(self, end_session_url: str) -> str:
        """Confirm "Yes, sign me out" on the provider's page; where it sends the browser then."""
        page = self.http.get(end_session_url)
        form = re.search(r'<form id="op.logoutForm"[^>]*action="([^"]+)"', page.text)
        assert form, f"no sign-out form at the provider: {page.status_code} {page.text[:300]}"
        fields = {**dict(_HIDDEN.findall(page.text)), "logout": "yes"}
        answer = self.http.post(str(page.url.join(form.group(1))), data=fields)
        assert answer.is_redirect, answer.text[:300]
        return str(answer.url.join(answer.headers["location"]))
