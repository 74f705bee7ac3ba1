"""What a stored credential may hold, checked before it is stored, and how to tell it apart.

Error messages never quote the value: a YAML error names the line and column only, since
PyYAML's own message would show a snippet of the (secret) text.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import yaml

from flywheel.errors import InvalidInput

if TYPE_CHECKING:
    import asyncssh

REFERENCE_PREFIX = "credential:"
KUBECONFIG_SECTIONS = ("clusters", "contexts", "users")


class CredentialKind(StrEnum):
    """What a credential is for."""

    SSH_PRIVATE_KEY = "ssh_private_key"
    KUBECONFIG = "kubeconfig"
    TOKEN = "token"


def ssh_key(value: str) -> asyncssh.SSHKey:
    """The private key in the text, or InvalidInput saying why it is not one we can use."""
    import asyncssh  # only where SSH keys are handled: the import is not free

    try:
        return asyncssh.import_private_key(value)
    except asyncssh.KeyImportError as exc:
        if "passphrase" in str(exc).lower():
            raise InvalidInput(
                "the SSH private key is protected by a passphrase: store it without one "
                "(ssh-keygen -p -N '' -f KEY on a copy); Flywheel encrypts it at rest"
            ) from None
        raise InvalidInput(
            "the value is not an SSH private key asyncssh can read "
            "(OpenSSH, PKCS#1 or PKCS#8 format; a public key is not enough)"
        ) from None


def kubeconfig(value: str) -> dict[str, Any]:
    """The kubeconfig as a dict, or InvalidInput naming what is wrong with it."""
    try:
        loaded = yaml.safe_load(value)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInput(f"the kubeconfig is not valid YAML{where}: {exc.problem}") from None
    except yaml.YAMLError:
        raise InvalidInput("the kubeconfig is not valid YAML") from None
    if not isinstance(loaded, dict):
        raise InvalidInput("the kubeconfig must be a YAML mapping (apiVersion, clusters, …)")
    for section in KUBECONFIG_SECTIONS:
        entries = loaded.get(section)
        if not isinstance(entries, list) or not entries:
            raise InvalidInput(f"the kubeconfig needs a non-empty '{section}' list")
        unnamed = [i for i, e in enumerate(entries) if not isinstance(e, dict) or not e.get("name")]
        if unnamed:
            raise InvalidInput(f"the kubeconfig's '{section}' entry {unnamed[0]} has no 'name'")
    return loaded


def token(value: str) -> str:
    """The token, or InvalidInput when it is blank or spans lines."""
    stripped = value.strip()
    if not stripped:
        raise InvalidInput("the token is empty")
    if "\n" in stripped or "\r" in stripped:
        raise InvalidInput("a token is one line of text")
    return stripped


def checked(kind: CredentialKind, value: str) -> tuple[str, str]:
    """The value to store (normalised) and its fingerprint; InvalidInput when it does not fit."""
    if kind is CredentialKind.SSH_PRIVATE_KEY:
        key = ssh_key(value)
        return value, key.get_fingerprint("sha256")
    if kind is CredentialKind.KUBECONFIG:
        kubeconfig(value)
        return value, digest(value)
    stored = token(value)
    return stored, digest(stored)


def digest(value: str) -> str:
    """A short SHA-256 fingerprint: enough to tell two values apart, useless to recover one."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


def referenced_name(setting: object) -> str | None:
    """The credential a driver setting names ("credential:NAME"), or None for anything else."""
    if isinstance(setting, str) and setting.startswith(REFERENCE_PREFIX):
        return setting[len(REFERENCE_PREFIX) :].strip()
    return None


def references_in(config: object) -> set[str]:
    """Every credential named anywhere in a (nested) driver configuration."""
    if isinstance(config, dict):
        return set().union(*(references_in(v) for v in config.values()))
    if isinstance(config, list):
        return set().union(*(references_in(v) for v in config))
    name = referenced_name(config)
    return {name} if name else set()
