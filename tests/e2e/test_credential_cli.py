"""`flywheel credential` against a real server: values go in from files or stdin, never out."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.credential_samples import kubeconfig_text, ssh_private_key
from tests.e2e.conftest import FLYWHEEL, Cli, Server


def _as(cli: Cli, server: Server) -> Cli:
    return Cli({**cli.env, "FLYWHEEL_URL": server.url, "FLYWHEEL_TOKEN": server.token})


def test_add_list_show_rotate_and_remove(cli: Cli, server: Server, tmp_path: Path) -> None:
    fw = _as(cli, server)
    key_file = tmp_path / "id_ed25519"
    key_file.write_text(ssh_private_key())
    added = fw(
        "credential", "add", "web-deploy", "--kind", "ssh_private_key", "--file", str(key_file)
    )
    assert "stored web-deploy (ssh_private_key" in added.stdout and "SHA256:" in added.stdout
    piped = subprocess.run(
        [*FLYWHEEL, "credential", "add", "prod-k8s", "--kind", "kubeconfig", "--file", "-"],
        input=kubeconfig_text(),
        env=fw.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr

    listed = json.loads(fw("credential", "list", "--json").stdout)
    assert [(c["name"], c["kind"]) for c in listed] == [
        ("prod-k8s", "kubeconfig"),
        ("web-deploy", "ssh_private_key"),
    ]
    table = fw("credential", "list").stdout
    shown = fw("credential", "show", "web-deploy").stdout
    assert "web-deploy" in table and "version 1" in shown
    for output in (added.stdout, piped.stdout, table, shown):
        assert "PRIVATE KEY" not in output and "kube-token" not in output

    key_file.write_text(ssh_private_key())
    rotated = fw("credential", "rotate", "web-deploy", "--file", str(key_file)).stdout
    assert "version 2" in rotated
    stale = fw(
        "credential", "rotate", "web-deploy", "--file", str(key_file), "--version", "1", check=False
    )
    assert stale.returncode == 1 and "at version 2, not 1" in stale.stderr

    fw("credential", "remove", "prod-k8s")
    gone = fw("credential", "show", "prod-k8s", check=False)
    assert gone.returncode == 1 and "no credential 'prod-k8s'" in gone.stderr


def test_bad_input_is_one_clear_line(cli: Cli, server: Server, tmp_path: Path) -> None:
    fw = _as(cli, server)
    missing = fw(
        "credential", "add", "k", "--kind", "token", "--file", str(tmp_path / "nope"), check=False
    )
    assert (
        missing.returncode == 1
        and "cannot read" in missing.stderr
        and "No such file" in missing.stderr
    )
    not_a_key = tmp_path / "key"
    not_a_key.write_text("hello")
    bad = fw(
        "credential", "add", "k", "--kind", "ssh_private_key", "--file", str(not_a_key), check=False
    )
    assert bad.returncode == 1 and "not an SSH private key" in bad.stderr
    wrong_kind = fw(
        "credential", "add", "k", "--kind", "password", "--file", str(not_a_key), check=False
    )
    assert wrong_kind.returncode != 0 and "password" in wrong_kind.stderr
    assert json.loads(fw("credential", "list", "--json").stdout) == []
