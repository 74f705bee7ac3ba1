"""Request and response bodies of the credential store (a value goes in, never comes out)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from flywheel.schemas import RequestModel, ResponseModel, Slug
from flywheel.vault.credential_values import CredentialKind

MAX_VALUE_CHARS = 262_144  # kubeconfigs embed certificates; a key is a few kB
# Kept as sent (no stripping): a file's bytes are what its fingerprint describes.
SecretText = Annotated[
    str, StringConstraints(strip_whitespace=False, min_length=1, max_length=MAX_VALUE_CHARS)
]


class CredentialCreate(RequestModel):
    """A new credential and its secret value (shown back never)."""

    name: Slug
    kind: CredentialKind
    value: SecretText
    description: str = Field(default="", max_length=500)
    owner_team: Slug | None = None


class CredentialRotate(RequestModel):
    """A new value for a credential (send the version you read)."""

    version: int = Field(ge=1)
    value: SecretText


class CredentialOut(ResponseModel):
    """What is known about a stored credential: everything but its value."""

    name: str
    kind: str
    description: str
    owner_team: str | None
    fingerprint: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    version: int
