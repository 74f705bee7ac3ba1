"""Integrations that require HMAC-signed webhooks: forged, stale and replayed requests fail."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient
from sqlalchemy import text

from flywheel.auth.roles import Role
from flywheel.db import Database
from flywheel.incident.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.factories import am_alert, am_payload, make_person

WEBHOOK = "/api/v1/integrations/alertmanager"


def _signed_integration(client: TestClient, db: Database) -> tuple[str, str]:
    admin = make_person(db, Role.ADMIN)
    made = client.post(
        "/api/v1/integrations", json={"name": "edge", "signed": True}, headers=admin.headers
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["signed"] is True and body["signing_secret"]
    listed = client.get("/api/v1/integrations", headers=admin.headers).json()
    assert "signing_secret" not in listed[0] and listed[0]["signed"] is True
    return body["token"], body["signing_secret"]


def _post(client: TestClient, token: str, body: bytes, headers: dict[str, str]) -> int:
    answer = client.post(
        WEBHOOK,
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
    )
    return answer.status_code


def test_only_fresh_correctly_signed_requests_are_taken_once(
    client: TestClient, db: Database
) -> None:
    token, secret = _signed_integration(client, db)
    body = json.dumps(am_payload(am_alert("fp-1"))).encode()
    now = int(time.time())
    good = {TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign(secret, body, now)}

    assert _post(client, token, body, {}) == 401  # unsigned
    forged = {TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign("guessed", body, now)}
    assert _post(client, token, body, forged) == 401
    other_body = json.dumps(am_payload(am_alert("fp-2"))).encode()
    assert _post(client, token, other_body, good) == 401  # signature of another body
    stale_at = now - 3600
    stale = {TIMESTAMP_HEADER: str(stale_at), SIGNATURE_HEADER: sign(secret, body, stale_at)}
    assert _post(client, token, body, stale) == 401
    assert _post(client, token, body, good) == 200
    assert _post(client, token, body, good) == 401  # the same signed request again: replay

    admin = make_person(db, Role.ADMIN, username="checker")
    incidents = client.get("/api/v1/incidents", headers=admin.headers).json()["items"]
    assert len(incidents) == 1  # only the one accepted request opened anything


def test_the_signing_secret_is_encrypted_at_rest(client: TestClient, db: Database) -> None:
    _, secret = _signed_integration(client, db)
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT signing_secret FROM alert_integrations")).scalar_one()
    assert stored.startswith("fwenc1:") and secret not in stored


def test_unsigned_integrations_work_as_before(client: TestClient, db: Database) -> None:
    admin = make_person(db, Role.ADMIN)
    made = client.post("/api/v1/integrations", json={"name": "plain"}, headers=admin.headers)
    assert made.json()["signing_secret"] is None
    body = json.dumps(am_payload(am_alert("fp-9"))).encode()
    assert _post(client, made.json()["token"], body, {}) == 200
