"""API token format, generation and hashing."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "fw_"


def generate_token() -> str:
    """A new random API token; shown once, stored only as its hash."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token (tokens are high-entropy, so SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_hint(token: str) -> str:
    """A short, harmless prefix that lets a person recognise their token."""
    return token[: len(TOKEN_PREFIX) + 6]
