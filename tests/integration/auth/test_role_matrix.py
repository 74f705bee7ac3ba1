"""Every role against every endpoint: allowed roles get 2xx, the others 403."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import count

import pytest
from fastapi.testclient import TestClient

from flywheel.app import API_PREFIX
from flywheel.auth.roles import Role
from flywheel.db import Database
from tests.factories import Person, make_person

EVERYONE = frozenset(Role)
ADMIN = frozenset({Role.ADMIN})
AUDIT = frozenset({Role.AUDITOR, Role.ADMIN})

_serial = count(1)


@dataclass
class World:
    """What the requests of one role's run act on."""

    client: TestClient
    admin: Person
    caller: Person

    def version_of(self, url: str) -> int:
        return int(self.client.get(url, headers=self.admin.headers).json()["version"])

    def own_token_id(self) -> int:
        made = self.client.post(
            "/api/v1/tokens",
            json={"name": "to-revoke", "username": self.caller.username},
            headers=self.admin.headers,
        )
        return int(made.json()["id"])


Request = tuple[str, str, dict[str, object] | None]
Example = Callable[[World], Request]

# (method, route path) -> (roles allowed, how to build a valid request)
MATRIX: dict[tuple[str, str], tuple[frozenset[Role], Example]] = {
    ("GET", "/me"): (EVERYONE, lambda w: ("GET", "/me", None)),
    ("GET", "/users"): (EVERYONE, lambda w: ("GET", "/users", None)),
    ("POST", "/users"): (ADMIN, lambda w: ("POST", "/users", {"username": f"n{next(_serial)}"})),
    ("GET", "/users/{username}"): (EVERYONE, lambda w: ("GET", "/users/target", None)),
    ("PATCH", "/users/{username}"): (
        ADMIN,
        lambda w: (
            "PATCH",
            "/users/target",
            {"version": w.version_of("/api/v1/users/target"), "full_name": f"T{next(_serial)}"},
        ),
    ),
    ("GET", "/teams"): (EVERYONE, lambda w: ("GET", "/teams", None)),
    ("POST", "/teams"): (
        ADMIN,
        lambda w: ("POST", "/teams", {"key": f"t{next(_serial)}", "name": "T"}),
    ),
    ("GET", "/teams/{key}"): (EVERYONE, lambda w: ("GET", "/teams/core", None)),
    ("PATCH", "/teams/{key}"): (
        ADMIN,
        lambda w: (
            "PATCH",
            "/teams/core",
            {"version": w.version_of("/api/v1/teams/core"), "name": f"Core {next(_serial)}"},
        ),
    ),
    ("GET", "/tokens"): (EVERYONE, lambda w: ("GET", "/tokens", None)),
    ("POST", "/tokens"): (EVERYONE, lambda w: ("POST", "/tokens", {"name": "mine"})),
    ("DELETE", "/tokens/{token_id}"): (
        EVERYONE,
        lambda w: ("DELETE", f"/tokens/{w.own_token_id()}", None),
    ),
    ("GET", "/audit"): (AUDIT, lambda w: ("GET", "/audit", None)),
    ("GET", "/audit/verify"): (AUDIT, lambda w: ("GET", "/audit/verify", None)),
}


def api_routes(client: TestClient) -> set[tuple[str, str]]:
    """Every (method, path) the app serves under the API prefix, from its OpenAPI spec."""
    paths = client.get("/openapi.json").json()["paths"]
    return {
        (method.upper(), path.removeprefix(API_PREFIX))
        for path, operations in paths.items()
        if path.startswith(API_PREFIX)
        for method in operations
    }


def test_the_matrix_covers_every_endpoint(client: TestClient) -> None:
    assert api_routes(client) == set(MATRIX), "add new endpoints to MATRIX with their roles"


@pytest.mark.parametrize("role", list(Role))
def test_role_against_every_endpoint(client: TestClient, db: Database, role: Role) -> None:
    admin = make_person(db, Role.ADMIN, username="root")
    caller = make_person(db, role, username=f"as-{role.value.replace('_', '-')}")
    make_person(db, username="target")
    client.post("/api/v1/teams", json={"key": "core", "name": "Core"}, headers=admin.headers)
    world = World(client, admin, caller)
    failures = []
    for (method, path), (allowed, example) in sorted(MATRIX.items()):
        verb, url, body = example(world)
        response = client.request(verb, API_PREFIX + url, json=body, headers=caller.headers)
        expected = "2xx" if role in allowed else "403"
        ok = response.is_success if role in allowed else response.status_code == 403
        if not ok:
            failures.append(f"{method} {path}: expected {expected}, got {response.status_code}")
    assert not failures, f"{role}: " + "; ".join(failures)
