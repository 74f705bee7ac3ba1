"""Drivers built from settings that name stored credentials ("credential:NAME")."""

from __future__ import annotations

import asyncssh
import pytest
from kubernetes import client  # type: ignore[import-untyped]

from flywheel.deploy.drivers.kubernetes import KubernetesRollout
from flywheel.deploy.drivers.registry import rollout_for, target_for
from flywheel.deploy.drivers.ssh import SshTarget
from flywheel.errors import InvalidInput, NotFound
from flywheel.vault.credential_values import CredentialKind
from tests.credential_samples import CLUSTER_TOKEN, CLUSTER_URL, kubeconfig_text, ssh_private_key

COMMANDS = {"start": "start {version}", "stop": "stop", "health": "check", "version": "cat v"}
ROLLOUT = {"driver": "kubernetes", "namespace": "prod", "deployment": "shop"}


class Store:
    """An in-memory stand-in for vault.service's lookup, recording what was asked."""

    def __init__(self, **values: tuple[CredentialKind, str]) -> None:
        self.values = values
        self.asked: list[tuple[str, CredentialKind]] = []

    def __call__(self, name: str, kind: CredentialKind) -> str:
        self.asked.append((name, kind))
        if name not in self.values:
            raise NotFound(f"no credential '{name}'")
        stored_kind, value = self.values[name]
        if stored_kind is not kind:
            raise InvalidInput(f"credential '{name}' is a {stored_kind}, not a {kind}")
        return value


def test_ssh_client_keys_mix_files_and_stored_keys() -> None:
    key = ssh_private_key()
    store = Store(deploy=(CredentialKind.SSH_PRIVATE_KEY, key))
    config = {"driver": "ssh", "commands": COMMANDS, "client_keys": ["/k", "credential:deploy"]}
    target = target_for(config, store)
    assert isinstance(target, SshTarget)
    assert target.client_keys is not None
    path, loaded = target.client_keys
    assert path == "/k"
    assert isinstance(loaded, asyncssh.SSHKey)
    assert (
        loaded.export_public_key().decode()
        == asyncssh.import_private_key(key).export_public_key().decode()
    )
    assert store.asked == [("deploy", CredentialKind.SSH_PRIVATE_KEY)]


@pytest.mark.parametrize(
    ("store", "message"),
    [
        (Store(), "names credential 'deploy', which does not exist"),
        (
            Store(deploy=(CredentialKind.TOKEN, "t")),
            "client_keys: credential 'deploy' is a token, not a ssh_private_key",
        ),
        (None, "no credential store is given"),
    ],
)
def test_an_unusable_ssh_credential_fails_the_build(store: Store | None, message: str) -> None:
    config = {"driver": "ssh", "commands": COMMANDS, "client_keys": ["credential:deploy"]}
    with pytest.raises(InvalidInput, match=message):
        target_for(config, store)


def test_a_stored_kubeconfig_builds_the_client_from_memory() -> None:
    default_host = client.Configuration.get_default_copy().host
    store = Store(prod=(CredentialKind.KUBECONFIG, kubeconfig_text()))
    rollout = rollout_for({**ROLLOUT, "kubeconfig": "credential:prod"}, store)
    assert isinstance(rollout, KubernetesRollout)
    configuration = rollout.api.api_client.configuration
    assert configuration.host == CLUSTER_URL
    assert configuration.api_key["authorization"] == f"Bearer {CLUSTER_TOKEN}"
    assert (rollout.namespace, rollout.deployment) == ("prod", "shop")
    # The process-wide default configuration is left alone (other rollouts, other clusters).
    assert client.Configuration.get_default_copy().host == default_host
    assert store.asked == [("prod", CredentialKind.KUBECONFIG)]


def test_a_stored_kubeconfig_with_an_unknown_context_is_invalid_input() -> None:
    store = Store(prod=(CredentialKind.KUBECONFIG, kubeconfig_text()))
    config = {**ROLLOUT, "kubeconfig": "credential:prod", "context": "staging"}
    with pytest.raises(InvalidInput, match="cannot load the Kubernetes configuration"):
        rollout_for(config, store)


def test_a_missing_kubeconfig_credential_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="kubeconfig names credential 'prod', which does not"):
        rollout_for({**ROLLOUT, "kubeconfig": "credential:prod"}, Store())
