"""An OpenID Connect relying party (authorization code flow with PKCE), built on authlib."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from flywheel.config import Settings
from flywheel.errors import Unauthenticated

DISCOVERY_TTL_S = 600
ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]


@dataclass(frozen=True)
class Provider:
    """The identity provider's endpoints and signing keys, from its discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str | None
    jwks: Any
    end_session_endpoint: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One sign-in in flight: what the callback must see again."""

    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class SignOn:
    """A completed sign-in at the provider."""

    claims: dict[str, Any]
    id_token: str


class OidcClient:
    """Talks to the configured identity provider."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._provider: tuple[float, Provider] | None = None
        self._lock = threading.Lock()

    def provider(self) -> Provider:
        """The discovery document and keys, fetched at most every few minutes."""
        with self._lock:
            if self._provider and time.monotonic() - self._provider[0] < DISCOVERY_TTL_S:
                return self._provider[1]
            found = self._discover()
            self._provider = (time.monotonic(), found)
            return found

    def _discover(self) -> Provider:
        base = self.settings.oidc_issuer.rstrip("/")
        timeout = self.settings.oidc_timeout_s
        try:
            doc = httpx.get(f"{base}/.well-known/openid-configuration", timeout=timeout)
            doc.raise_for_status()
            meta = doc.json()
            keys = httpx.get(meta["jwks_uri"], timeout=timeout)
            keys.raise_for_status()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise Unauthenticated(
                f"the identity provider at {base} cannot be reached: {exc}"
            ) from exc
        if meta.get("issuer", "").rstrip("/") != base:
            raise Unauthenticated(
                f"the identity provider says it is {meta.get('issuer')!r}, not {base!r}"
            )
        return Provider(
            issuer=meta["issuer"],
            authorization_endpoint=meta["authorization_endpoint"],
            token_endpoint=meta["token_endpoint"],
            userinfo_endpoint=meta.get("userinfo_endpoint"),
            jwks=KeySet.import_key_set(keys.json()),
            end_session_endpoint=meta.get("end_session_endpoint"),
        )

    def start(self, redirect_uri: str) -> tuple[str, Attempt]:
        """The provider URL to send the browser to, and what to remember until the callback."""
        attempt = Attempt(generate_token(32), generate_token(32), generate_token(64))
        query = {
            "response_type": "code",
            "client_id": self.settings.oidc_client_id,
            "redirect_uri": redirect_uri,
            "scope": self.settings.oidc_scopes,
            "state": attempt.state,
            "nonce": attempt.nonce,
            "code_challenge": create_s256_code_challenge(attempt.verifier),
            "code_challenge_method": "S256",
        }
        return f"{self.provider().authorization_endpoint}?{urlencode(query)}", attempt

    def _exchange(
        self, provider: Provider, code: str, redirect_uri: str, verifier: str
    ) -> dict[str, Any]:
        """The token response for an authorization code (client_secret_basic, PKCE)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        auth = (self.settings.oidc_client_id, self.settings.oidc_client_secret)
        try:
            answer = httpx.post(
                provider.token_endpoint, data=form, auth=auth, timeout=self.settings.oidc_timeout_s
            )
            body = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unauthenticated(f"the identity provider's token endpoint failed: {exc}") from exc
        if answer.status_code != 200:
            said = body.get("error_description") or body.get("error") or answer.status_code
            raise Unauthenticated(f"the identity provider refused the sign-in: {said}")
        if not isinstance(body.get("id_token"), str):
            raise Unauthenticated("the identity provider sent no ID token")
        return dict(body)

    def claims(self, *, code: str, redirect_uri: str, attempt: Attempt) -> dict[str, Any]:
        """Exchange the code and return the ID token's claims, validated."""
        return self.sign_on(code=code, redirect_uri=redirect_uri, attempt=attempt).claims

    def sign_on(self, *, code: str, redirect_uri: str, attempt: Attempt) -> SignOn:
        """Exchange the code: the validated claims and the raw ID token (for signing out)."""
        provider = self.provider()
        tokens = self._exchange(provider, code, redirect_uri, attempt.verifier)
        expected = jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": self.settings.oidc_client_id},
            nonce={"essential": True, "value": attempt.nonce},
            exp={"essential": True},
        )
        try:
            token = jwt.decode(tokens["id_token"], provider.jwks, algorithms=ALGORITHMS)
            expected.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise Unauthenticated(f"the ID token is not valid: {exc}") from exc
        claims = {**self._userinfo(provider, tokens, token.claims["sub"]), **token.claims}
        return SignOn(claims=claims, id_token=tokens["id_token"])

    def sign_out_url(self, *, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser to end the provider's session too; None if it can't."""
        endpoint = self.provider().end_session_endpoint
        if not endpoint:
            return None
        query = {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": post_logout_redirect_uri,
            "client_id": self.settings.oidc_client_id,
        }
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(query)}"

    def _userinfo(self, provider: Provider, tokens: dict[str, Any], sub: str) -> dict[str, Any]:
        """Claims the provider keeps at its userinfo endpoint (many keep groups there)."""
        access = tokens.get("access_token")
        if not provider.userinfo_endpoint or not isinstance(access, str):
            return {}
        try:
            answer = httpx.get(
                provider.userinfo_endpoint,
                headers={"Authorization": f"Bearer {access}"},
                timeout=self.settings.oidc_timeout_s,
            )
            answer.raise_for_status()
            info = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unauthenticated(f"the identity provider's userinfo failed: {exc}") from exc
        if not isinstance(info, dict) or info.get("sub") != sub:
            raise Unauthenticated("the identity provider's userinfo is about someone else")
        return info
