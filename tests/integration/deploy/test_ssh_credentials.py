"""SSH deployments with a key from the credential store: a real sshd, no key file on the worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.cmdb import service as cmdb_service
from flywheel.cmdb.schemas import CIUpdate
from flywheel.db import Database
from flywheel.deploy import run_steps
from flywheel.deploy import service as deploy_service
from flywheel.deploy.drivers.base import Instance
from flywheel.deploy.drivers.registry import target_for
from flywheel.deploy.drivers.ssh import SshTarget
from flywheel.deploy.schemas import DeploymentCreate
from flywheel.release import service as release_service
from flywheel.release.schemas import EnvironmentIn
from flywheel.vault import service as vault_service
from flywheel.vault.credential_values import CredentialKind
from flywheel.vault.schemas import CredentialCreate
from tests.deploy_support import Sshd, sshd
from tests.factories import SYSTEM, Person, make_ci, make_person, relate
from tests.integration.deploy.test_ssh_target import storefront_commands
from tests.support import free_port

FAST = {"bake_s": 0.5, "drain_timeout_s": 2, "health_timeout_s": 20, "min_requests": 0}
FINAL = {"succeeded", "rolled_back", "failed", "aborted"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Sshd]:
    with sshd(tmp_path / "sshd") as running:
        yield running


def _store_key_and_forget_the_file(db: Database, server: Sshd) -> str:
    """Put the sshd's authorised client key in the store, then delete the key file."""
    data = CredentialCreate(
        name="deploy-key",
        kind=CredentialKind.SSH_PRIVATE_KEY,
        value=server.client_key.read_text(),
    )
    with db.session(write=True) as session:
        vault_service.create_credential(session, actor=SYSTEM, data=data)
        session.commit()
    server.client_key.unlink()
    return "credential:deploy-key"


def _ssh_settings(server: Sshd, remote: Path, key: str) -> dict[str, Any]:
    commands = storefront_commands(remote)
    return {
        "driver": "ssh",
        "commands": {
            "start": commands.start,
            "stop": commands.stop,
            "health": commands.health,
            "version": commands.version,
            "install": commands.install,
        },
        "username": server.user,
        "port": server.port,
        "client_keys": [key],
        "known_hosts": str(server.known_hosts),
    }


def test_the_ssh_driver_logs_in_with_a_stored_key(
    server: Sshd, db: Database, tmp_path: Path
) -> None:
    reference = _store_key_and_forget_the_file(db, server)
    config = _ssh_settings(server, tmp_path / "remote", reference)
    target = target_for(config, vault_service.lookup_through(db))
    assert isinstance(target, SshTarget)
    try:
        here = Instance("web-1", "127.0.0.1", free_port())
        answer = target.run(here, "echo logged-in-as-$(id -un)")
        assert answer.exit_status == 0, answer.stderr
        assert answer.stdout.strip() == f"logged-in-as-{server.user}"
    finally:
        target.close()


def _describe_ssh_pool(db: Database, target: dict[str, Any], port: int) -> None:
    with db.session(write=True) as session:
        make_ci(session, "shop", "business_service", criticality=1)
        make_ci(
            session,
            "shop-pool",
            "service_pool",
            min_up="0",
            attributes={"deploy": {"target": target}},
        )
        make_ci(session, "web-1", "instance", attributes={"port": port})
        relate(session, "shop", "depends_on", "shop-pool")
        relate(session, "web-1", "member_of", "shop-pool")
        session.commit()


def _deploy(client: TestClient, admin: Person) -> Any:
    staging = client.put("/api/v1/environments/staging", json={"rank": 1}, headers=admin.headers)
    assert staging.status_code == 200, staging.text
    body = {"pool": "shop-pool", "version": "v2", "environment": "staging", "settings": FAST}
    return client.post("/api/v1/deployments", json=body, headers=admin.headers)


def test_a_deployment_runs_over_ssh_with_the_stored_key(
    server: Sshd, db: Database, client: TestClient, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    reference = _store_key_and_forget_the_file(db, server)
    port = free_port()
    _describe_ssh_pool(db, _ssh_settings(server, remote, reference), port)
    admin = make_person(db, Role.ADMIN)
    answer = _deploy(client, admin)
    assert answer.status_code == 201, answer.text
    deadline, done = time.monotonic() + 90, answer.json()
    while done["state"] not in FINAL and time.monotonic() < deadline:
        time.sleep(0.3)
        done = client.get(f"/api/v1/deployments/{done['id']}", headers=admin.headers).json()
    try:
        assert done["state"] == "succeeded", (done["status_reason"], done["steps"][-3:])
        assert (remote / "releases" / "v2" / "VERSION").read_text() == "v2\n"
    finally:
        pid = remote / f"shop-{port}.pid"
        if pid.exists():
            target = target_for(
                _ssh_settings(server, remote, reference), vault_service.lookup_through(db)
            )
            assert isinstance(target, SshTarget)
            target.stop(Instance("web-1", "127.0.0.1", port), timeout_s=5)
            target.close()


def test_a_missing_credential_stops_the_deployment_before_it_starts(
    server: Sshd, db: Database, client: TestClient, tmp_path: Path
) -> None:
    port = free_port()
    _describe_ssh_pool(db, _ssh_settings(server, tmp_path, "credential:nowhere"), port)
    admin = make_person(db, Role.ADMIN)
    answer = _deploy(client, admin)
    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    assert "client_keys names credential 'nowhere', which does not exist" in message
    listed = client.get("/api/v1/deployments", headers=admin.headers)
    assert listed.json()["items"] == []


def test_a_step_whose_credential_is_gone_fails_before_touching_the_host(
    server: Sshd, db: Database, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    reference = _store_key_and_forget_the_file(db, server)
    _describe_ssh_pool(db, _ssh_settings(server, remote, reference), free_port())
    held = DeploymentCreate(pool="shop-pool", version="v2", environment="staging")
    with db.session(write=True) as session:
        staging = EnvironmentIn(rank=1)
        release_service.put_environment(session, actor=SYSTEM, name="staging", data=staging)
        deployment = deploy_service.create_deployment(session, actor=SYSTEM, data=held)
        session.commit()
        # The pool stops naming the key, so it may go; the run's snapshot still names it.
        cmdb_service.update_ci(
            session, actor=SYSTEM, key="shop-pool", data=CIUpdate(version=1, attributes={})
        )
        vault_service.delete_credential(session, actor=SYSTEM, name="deploy-key")
        session.commit()

    step = run_steps.act(db, deployment.id, 1, "deploy", 0, "start", ["web-1"], [])

    assert step["outcome"] == "failed"
    assert "client_keys names credential 'deploy-key', which does not exist" in step["reason"]
    assert not (remote / "releases").exists()  # no command ran on the host
