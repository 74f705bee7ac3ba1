"""The credential store over the API: values go in encrypted and never come back out."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import text

from flywheel.auth.roles import Role
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.vault import keyring, service
from flywheel.vault.credential_values import CredentialKind
from flywheel.vault.keyring import PREFIX
from tests.credential_samples import kubeconfig_text, ssh_private_key
from tests.factories import Person, make_person

URL = "/api/v1/credentials"
TOKEN, KUBECONFIG = CredentialKind.TOKEN, CredentialKind.KUBECONFIG


def _add(client: TestClient, who: Person, name: str, kind: str, value: str, **more: Any) -> Any:
    body = {"name": name, "kind": kind, "value": value, **more}
    return client.post(URL, json=body, headers=who.headers)


def _raw_values(db: Database) -> dict[str, str]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT name, value FROM credentials"))
        return {str(name): str(value) for name, value in rows}


def _audit_rows(db: Database) -> list[str]:
    """Every credential event's stored row, as text, straight from the table."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM audit_events WHERE action LIKE 'credential.%' ORDER BY seq")
        )
        return [repr(tuple(r)) for r in rows]


def test_values_are_stored_encrypted_and_never_answered(client: TestClient, db: Database) -> None:
    operator = make_person(db, Role.OPERATOR)
    key, kubeconfig = ssh_private_key(), kubeconfig_text()
    made = _add(client, operator, "deploy-key", "ssh_private_key", key, description="web hosts")
    assert made.status_code == 201, made.text
    assert "value" not in made.json() and key.strip() not in made.text
    assert made.json()["fingerprint"].startswith("SHA256:")
    assert made.json()["created_by"] == operator.username and made.json()["version"] == 1
    assert _add(client, operator, "prod", "kubeconfig", kubeconfig).status_code == 201

    listed = client.get(URL, headers=operator.headers)
    assert [c["name"] for c in listed.json()] == ["deploy-key", "prod"]
    one = client.get(f"{URL}/prod", headers=operator.headers)
    assert one.json()["kind"] == "kubeconfig" and "value" not in one.json()
    for answer in (listed, one):
        assert "PRIVATE KEY" not in answer.text and "kube-token" not in answer.text

    raw = _raw_values(db)
    assert raw["deploy-key"].startswith(PREFIX) and "PRIVATE KEY" not in raw["deploy-key"]
    assert raw["prod"].startswith(PREFIX) and "kube-token" not in raw["prod"]
    with db.session() as session:  # the drivers' way in: decrypted in memory
        assert service.secret_value(session, name="prod", kind=KUBECONFIG) == (kubeconfig)


def test_rotation_checks_the_version_and_changes_the_fingerprint(
    client: TestClient, db: Database
) -> None:
    admin = make_person(db, Role.ADMIN)
    first = _add(client, admin, "api", "token", "tok-one").json()
    url = f"{URL}/api/rotate"
    stale = client.post(url, json={"version": 7, "value": "tok-two"}, headers=admin.headers)
    assert stale.status_code == 409 and "at version 1, not 7" in stale.text
    rotated = client.post(url, json={"version": 1, "value": "tok-two"}, headers=admin.headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["version"] == 2
    assert rotated.json()["fingerprint"] != first["fingerprint"]
    again = client.post(url, json={"version": 1, "value": "tok-three"}, headers=admin.headers)
    assert again.status_code == 409
    bad = client.post(url, json={"version": 2, "value": "a\nb"}, headers=admin.headers)
    assert bad.status_code == 422 and "one line" in bad.text
    with db.session() as session:
        assert service.secret_value(session, name="api", kind=TOKEN) == ("tok-two")


def test_bad_values_are_422_naming_the_problem_and_store_nothing(
    client: TestClient, db: Database
) -> None:
    admin = make_person(db, Role.ADMIN)
    cases = [
        (("k", "ssh_private_key", "-----BEGIN NONSENSE-----"), "not an SSH private key"),
        (("k", "kubeconfig", "clusters: [{name: a}]"), "non-empty 'contexts' list"),
        (("k", "kubeconfig", "users: [\n  {"), "not valid YAML at line"),
        (("k", "token", "   "), "the token is empty"),
        (("k", "password", "x"), "kind"),
        (("Bad Name", "token", "x"), "name"),
    ]
    for (name, kind, value), message in cases:
        answer = _add(client, admin, name, kind, value)
        assert answer.status_code == 422, (kind, answer.text)
        assert message in answer.json()["error"]["message"], answer.text
    unknown_team = _add(client, admin, "k", "token", "x", owner_team="nobody")
    assert unknown_team.status_code == 422 and "unknown owner_team 'nobody'" in unknown_team.text
    assert client.get(URL, headers=admin.headers).json() == []
    assert _raw_values(db) == {} and _audit_rows(db) == []
    assert _add(client, admin, "k", "token", "x").status_code == 201
    duplicate = _add(client, admin, "k", "token", "y")
    assert duplicate.status_code == 409 and "already exists" in duplicate.text


def test_delete_is_refused_while_a_pool_names_the_credential(
    client: TestClient, db: Database
) -> None:
    admin = make_person(db, Role.ADMIN)
    assert _add(client, admin, "deploy-key", "ssh_private_key", ssh_private_key()).is_success
    target = {"driver": "ssh", "commands": {}, "client_keys": ["credential:deploy-key"]}
    for key in ("web-pool", "api-pool"):
        pool = {"key": key, "name": key, "type": "service_pool"}
        pool["attributes"] = {"deploy": {"target": target}}  # type: ignore[assignment]
        assert client.post("/api/v1/cis", json=pool, headers=admin.headers).is_success

    refused = client.delete(f"{URL}/deploy-key", headers=admin.headers)
    assert refused.status_code == 409
    assert "api-pool, web-pool" in refused.json()["error"]["message"]
    for key in ("web-pool", "api-pool"):
        change = {"version": 1, "attributes": {"deploy": {"target": {"driver": "local"}}}}
        done = client.patch(f"/api/v1/cis/{key}", json=change, headers=admin.headers)
        assert done.status_code == 200, done.text
    assert client.delete(f"{URL}/deploy-key", headers=admin.headers).status_code == 204
    assert client.get(f"{URL}/deploy-key", headers=admin.headers).status_code == 404
    assert client.delete(f"{URL}/deploy-key", headers=admin.headers).status_code == 404


def test_the_audit_trail_names_the_work_but_never_the_value(
    client: TestClient, db: Database
) -> None:
    admin = make_person(db, Role.ADMIN)
    first, second = ssh_private_key(), ssh_private_key()
    made = _add(client, admin, "deploy-key", "ssh_private_key", first).json()
    client.post(
        f"{URL}/deploy-key/rotate", json={"version": 1, "value": second}, headers=admin.headers
    )
    client.delete(f"{URL}/deploy-key", headers=admin.headers)

    rows = _audit_rows(db)
    assert len(rows) == 3
    actions = ("credential.create", "credential.rotate", "credential.delete")
    for row, action in zip(rows, actions, strict=True):
        assert action in row
        assert "PRIVATE KEY" not in row and "BEGIN" not in row
        for secret in (first, second):
            assert secret.splitlines()[1] not in row
    assert made["fingerprint"] in rows[0]


def test_key_rotation_covers_the_credentials_column(
    client: TestClient, db: Database, settings: Settings
) -> None:
    admin = make_person(db, Role.ADMIN)
    _add(client, admin, "api", "token", "tok-one")
    before = _raw_values(db)["api"]
    old_key, new_key = keyring.current().keys[0], Fernet.generate_key().decode()
    try:
        keyring.use(settings.model_copy(update={"encryption_keys": f"{new_key},{old_key}"}))
        with db.session(write=True) as session:
            counts = service.rotate(session)
            session.commit()
        assert counts["credentials.value"] == 1
        assert _raw_values(db)["api"] != before
        keyring.use(settings.model_copy(update={"encryption_keys": new_key}))  # old key gone
        with db.session() as session:
            assert service.secret_value(session, name="api", kind=TOKEN) == "tok-one"
    finally:
        keyring.use(settings)


def test_developers_cannot_read_or_manage_credentials(client: TestClient, db: Database) -> None:
    developer = make_person(db, Role.DEVELOPER)
    auditor = make_person(db, Role.AUDITOR)
    assert client.get(URL, headers=developer.headers).status_code == 403
    assert _add(client, developer, "k", "token", "x").status_code == 403
    assert client.get(URL, headers=auditor.headers).status_code == 200
    assert _add(client, auditor, "k", "token", "x").status_code == 403
