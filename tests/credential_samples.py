"""Credential values for tests: a fresh SSH key, a kubeconfig for a cluster that need not exist."""

from __future__ import annotations

from typing import Any

import asyncssh
import yaml

CLUSTER_URL = "https://127.0.0.1:6443"
CLUSTER_TOKEN = "kube-token-abc123"


def ssh_private_key() -> str:
    """A new unencrypted ed25519 private key in OpenSSH format."""
    return asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()


def kubeconfig_dict(server: str = CLUSTER_URL, token: str = CLUSTER_TOKEN) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context (a bearer token, no certificates)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "prod", "cluster": {"server": server}}],
        "users": [{"name": "deployer", "user": {"token": token}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "deployer"}}],
        "current-context": "prod",
    }


def kubeconfig_text(**fields: str) -> str:
    """The same as YAML text, as a file would hold it."""
    return yaml.safe_dump(kubeconfig_dict(**fields))
