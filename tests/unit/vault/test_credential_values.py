"""What each kind of credential must look like; errors never quote the value."""

from __future__ import annotations

import asyncssh
import pytest

from flywheel.errors import InvalidInput
from flywheel.vault.credential_values import (
    CredentialKind,
    checked,
    kubeconfig,
    referenced_name,
    references_in,
)
from tests.credential_samples import kubeconfig_dict, kubeconfig_text, ssh_private_key


def test_an_ssh_key_is_fingerprinted_like_ssh_keygen() -> None:
    key = ssh_private_key()
    stored, fingerprint = checked(CredentialKind.SSH_PRIVATE_KEY, key)
    assert stored == key
    assert fingerprint == asyncssh.import_private_key(key).get_fingerprint("sha256")
    assert fingerprint.startswith("SHA256:")


def test_an_ssh_key_without_its_trailing_newline_still_parses() -> None:
    key = ssh_private_key()
    assert (
        checked(CredentialKind.SSH_PRIVATE_KEY, key.strip())[1]
        == checked(CredentialKind.SSH_PRIVATE_KEY, key)[1]
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not a key at all", "not an SSH private key"),
        (
            asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode(),
            "not an SSH private key",
        ),
        (
            asyncssh.generate_private_key("ssh-rsa", key_size=2048)
            .export_private_key("pkcs8-pem", "hunter2")
            .decode(),
            "protected by a passphrase",
        ),
    ],
    ids=["not-a-key", "a-public-key", "passphrase"],  # keys are new on every run
)
def test_bad_ssh_keys_are_refused(value: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        checked(CredentialKind.SSH_PRIVATE_KEY, value)


def test_a_kubeconfig_is_read_and_fingerprinted_by_digest() -> None:
    text = kubeconfig_text()
    assert kubeconfig(text) == kubeconfig_dict()
    stored, fingerprint = checked(CredentialKind.KUBECONFIG, text)
    assert stored == text
    assert fingerprint.startswith("sha256:") and len(fingerprint) == len("sha256:") + 16
    assert checked(CredentialKind.KUBECONFIG, kubeconfig_text(token="other"))[1] != fingerprint


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("clusters: [\n  secret-token-xyz: {", "not valid YAML at line"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("clusters: [{name: a}]\ncontexts: [{name: c}]\n", "non-empty 'users' list"),
        ("clusters: []\ncontexts: [{name: c}]\nusers: [{name: u}]", "non-empty 'clusters' list"),
        ("clusters: [{name: a}]\ncontexts: [{}]\nusers: [{name: u}]", "'contexts' entry 0"),
    ],
)
def test_bad_kubeconfigs_are_refused_naming_the_problem(value: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as raised:
        checked(CredentialKind.KUBECONFIG, value)
    assert "secret-token-xyz" not in raised.value.message


def test_tokens_are_one_non_blank_line() -> None:
    assert checked(CredentialKind.TOKEN, "  abc123\n")[0] == "abc123"
    with pytest.raises(InvalidInput, match="empty"):
        checked(CredentialKind.TOKEN, " \n ")
    with pytest.raises(InvalidInput, match="one line"):
        checked(CredentialKind.TOKEN, "abc\ndef")


def test_references_are_found_at_any_depth() -> None:
    assert referenced_name("credential:deploy-key") == "deploy-key"
    assert referenced_name("/home/fw/.ssh/id_ed25519") is None
    assert referenced_name(7) is None
    deploy = {
        "target": {"driver": "ssh", "client_keys": ["/k", "credential:a"]},
        "rollout": {"kubeconfig": "credential:b"},
        "load_balancer": {"driver": "none"},
    }
    assert references_in(deploy) == {"a", "b"}
    assert references_in(None) == set()
