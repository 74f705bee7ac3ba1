"""Every role against every endpoint: allowed roles get 2xx, the others 403."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from fastapi.testclient import TestClient

from flywheel.app import API_PREFIX
from flywheel.auth.roles import Role
from flywheel.db import Database
from tests.factories import (
    Person,
    am_alert,
    am_payload,
    make_held_deployment,
    make_person,
    seed_finished_changes,
)
from tests.support import free_port

EVERYONE = frozenset(Role)
ADMIN = frozenset({Role.ADMIN})
AUDIT = frozenset({Role.AUDITOR, Role.ADMIN})
OPS = frozenset({Role.OPERATOR, Role.ADMIN})
WORKERS = frozenset({Role.DEVELOPER, Role.OPERATOR, Role.CHANGE_MANAGER, Role.ADMIN})
GOVERNORS = frozenset({Role.CHANGE_MANAGER, Role.ADMIN})
ALERTERS = frozenset({Role.DEVELOPER, Role.OPERATOR, Role.ADMIN})
RESPONDERS = WORKERS
INTEGRATION_READERS = frozenset({Role.OPERATOR, Role.AUDITOR, Role.ADMIN})

_serial = count(1)


@dataclass
class World:
    """What the requests of one role's run act on."""

    client: TestClient
    admin: Person
    caller: Person
    db: Database

    def deployable_pool(self) -> str:
        pool = f"pool{next(_serial)}"
        target = {"driver": "local", "state_dir": tempfile.mkdtemp(prefix="fw-matrix-")}
        cis = [
            {
                "key": pool,
                "name": pool,
                "type": "service_pool",
                "min_up": "0",
                "attributes": {"deploy": {"target": {**target, "command": "true"}}},
            },
            {
                "key": f"{pool}-i",
                "name": "i",
                "type": "instance",
                "attributes": {"port": free_port()},
            },
        ]
        for ci in cis:
            made = self.client.post("/api/v1/cis", json=ci, headers=self.admin.headers)
            assert made.status_code == 201, made.text
        rel = {"source": f"{pool}-i", "type": "member_of", "target": pool}
        self.client.post("/api/v1/relationships", json=rel, headers=self.admin.headers)
        staging = {"rank": 1}
        self.client.put("/api/v1/environments/staging", json=staging, headers=self.admin.headers)
        return pool

    def held_deployment(self, *, finished: bool = False, paused: bool = False) -> int:
        found = make_held_deployment(self.db, pool=self.deployable_pool(), finished=finished)
        if paused:
            url = f"/api/v1/deployments/{found}/pause"
            self.client.post(url, json={}, headers=self.admin.headers)
        return found

    def release_id(self) -> int:
        body = {"service": "svc", "version": f"r{next(_serial)}"}
        made = self.client.post("/api/v1/releases", json=body, headers=self.admin.headers)
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def version_of(self, url: str) -> int:
        return int(self.client.get(url, headers=self.admin.headers).json()["version"])

    def own_token_id(self) -> int:
        made = self.client.post(
            "/api/v1/tokens",
            json={"name": "to-revoke", "username": self.caller.username},
            headers=self.admin.headers,
        )
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def candidate_model(self) -> str:
        made = self.client.post(
            "/api/v1/risk/models", json={"months": 12}, headers=self.admin.headers
        )
        if made.status_code == 409:  # this world's history was trained on already
            listed = self.client.get("/api/v1/risk/models", headers=self.admin.headers).json()
            return str(listed[0]["version"])
        assert made.status_code == 201, made.text
        return str(made.json()["version"])

    def new_app(self) -> str:
        app = f"app{next(_serial)}"
        body = {"key": app, "name": app, "type": "application"}
        made = self.client.post("/api/v1/cis", json=body, headers=self.admin.headers)
        assert made.status_code == 201, made.text
        return app

    def schedule(self) -> str:
        """A fresh on-call schedule made by the admin: its key."""
        body = _schedule()
        made = self.client.post("/api/v1/oncall/schedules", json=body, headers=self.admin.headers)
        assert made.status_code == 201, made.text
        return str(body["key"])

    def new_integration(self) -> tuple[str, str]:
        """A fresh Alertmanager integration: (name, token)."""
        name = f"am{next(_serial)}"
        made = self.client.post(
            "/api/v1/integrations", json={"name": name}, headers=self.admin.headers
        )
        assert made.status_code == 201, made.text
        return name, str(made.json()["token"])

    def new_incident(self, *, resolved: bool = False) -> tuple[int, int]:
        """A fresh incident (optionally resolved by the admin): (id, version)."""
        service = f"svc-alerting-{next(_serial)}"
        body = [{"source": "matrix", "labels": {"alertname": "Down", "service": service}}]
        sent = self.client.post("/api/v1/alerts", json=body, headers=self.admin.headers)
        assert sent.status_code == 200, sent.text
        listed = self.client.get(f"/api/v1/incidents?service={service}", headers=self.admin.headers)
        incident = listed.json()["items"][0]
        if resolved:
            done = self.client.post(
                f"/api/v1/incidents/{incident['id']}/resolve",
                json={"version": incident["version"]},
                headers=self.admin.headers,
            )
            incident = done.json()
        return int(incident["id"]), int(incident["version"])

    def incident_action(self, action: str, **body: object) -> Request:
        incident_id, version = self.new_incident(resolved=action == "reopen")
        return ("POST", f"/incidents/{incident_id}/{action}", {"version": version, **body})

    def tenant(self) -> str:
        key = f"tenant{next(_serial)}"
        body = {"key": key, "name": key, "type": "tenant"}
        made = self.client.post("/api/v1/cis", json=body, headers=self.admin.headers)
        assert made.status_code == 201, made.text
        return key

    def slo_id(self) -> int:
        made = self.client.post("/api/v1/slos", json=_slo_body(), headers=self.admin.headers)
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def new_relationship_id(self) -> int:
        app = self.new_app()
        made = self.client.post(
            "/api/v1/relationships",
            json={"source": app, "type": "depends_on", "target": "db1"},
            headers=self.admin.headers,
        )
        assert made.status_code == 201, made.text
        return int(made.json()["id"])


def _change(w: World, who: Person | None = None, **body: object) -> int:
    payload = {"service": "svc", "title": f"c{next(_serial)}", **body}
    made = w.client.post("/api/v1/changes", json=payload, headers=(who or w.admin).headers)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _awaiting_for(w: World) -> int:
    """A change awaiting one approval from any working role (not requested by the caller)."""
    return _change(w, type="emergency")


def _scheduled(w: World) -> int:
    return _change(w)


def _implementing(w: World) -> int:
    change_id = _change(w)
    w.client.post(f"/api/v1/changes/{change_id}/start", headers=w.admin.headers)
    return change_id


def _in_review(w: World) -> int:
    change_id = _implementing(w)
    w.client.post(
        f"/api/v1/changes/{change_id}/complete",
        json={"close_code": "successful"},
        headers=w.admin.headers,
    )
    return change_id


def _frozen(w: World) -> int:
    now = datetime.now(UTC)
    window = {
        "name": f"freeze{next(_serial)}",
        "kind": "blackout",
        "scope": "service:frozen",
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=5)).isoformat(),
        "override_roles": [r.value for r in Role],
    }
    w.client.post("/api/v1/change-windows", json=window, headers=w.admin.headers)
    return _change(w, service="frozen")


def _window_body(w: World) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "name": f"w{next(_serial)}",
        "kind": "maintenance",
        "start": now.isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
    }


def _window_id(w: World) -> int:
    made = w.client.post("/api/v1/change-windows", json=_window_body(w), headers=w.admin.headers)
    return int(made.json()["id"])


def _slo_body() -> dict[str, object]:
    return {
        "service": "svc",
        "name": f"slo{next(_serial)}",
        "objective": 99.9,
        "source": "deployments",
    }


def _new_ci(w: World) -> Request:
    key = f"ci{next(_serial)}"
    return ("POST", "/cis", {"key": key, "name": key, "type": "host"})


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
    ("GET", "/ci-types"): (EVERYONE, lambda w: ("GET", "/ci-types", None)),
    ("POST", "/ci-types"): (
        ADMIN,
        lambda w: ("POST", "/ci-types", {"name": f"kind{next(_serial)}"}),
    ),
    ("GET", "/cis"): (EVERYONE, lambda w: ("GET", "/cis", None)),
    ("POST", "/cis"): (OPS, _new_ci),
    ("GET", "/cis/{key}"): (EVERYONE, lambda w: ("GET", "/cis/db1", None)),
    ("PATCH", "/cis/{key}"): (
        OPS,
        lambda w: (
            "PATCH",
            "/cis/db1",
            {"version": w.version_of("/api/v1/cis/db1"), "criticality": next(_serial) % 4 + 1},
        ),
    ),
    ("GET", "/cis/{key}/history"): (EVERYONE, lambda w: ("GET", "/cis/db1/history", None)),
    ("GET", "/cis/{key}/relationships"): (
        EVERYONE,
        lambda w: ("GET", "/cis/db1/relationships", None),
    ),
    ("GET", "/cis/{key}/impact"): (EVERYONE, lambda w: ("GET", "/cis/db1/impact", None)),
    ("GET", "/cis/{key}/dependencies"): (
        EVERYONE,
        lambda w: ("GET", "/cis/db1/dependencies", None),
    ),
    ("POST", "/impact"): (EVERYONE, lambda w: ("POST", "/impact", {"keys": ["db1"]})),
    ("POST", "/relationships"): (
        OPS,
        lambda w: (
            "POST",
            "/relationships",
            {"source": w.new_app(), "type": "depends_on", "target": "db1"},
        ),
    ),
    ("DELETE", "/relationships/{rel_id}"): (
        OPS,
        lambda w: ("DELETE", f"/relationships/{w.new_relationship_id()}", None),
    ),
    ("POST", "/changes"): (
        WORKERS,
        lambda w: ("POST", "/changes", {"service": "svc", "title": "t"}),
    ),
    ("GET", "/changes"): (EVERYONE, lambda w: ("GET", "/changes", None)),
    ("GET", "/changes/calendar"): (
        EVERYONE,
        lambda w: (
            "GET",
            "/changes/calendar?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z",
            None,
        ),
    ),
    ("GET", "/changes/{change_id}"): (
        EVERYONE,
        lambda w: ("GET", f"/changes/{_scheduled(w)}", None),
    ),
    ("GET", "/changes/{change_id}/timeline"): (
        EVERYONE,
        lambda w: ("GET", f"/changes/{_scheduled(w)}/timeline", None),
    ),
    ("POST", "/changes/{change_id}/approve"): (
        WORKERS,
        lambda w: ("POST", f"/changes/{_awaiting_for(w)}/approve", {}),
    ),
    ("POST", "/changes/{change_id}/reject"): (
        WORKERS,
        lambda w: ("POST", f"/changes/{_awaiting_for(w)}/reject", {"reason": "no"}),
    ),
    ("POST", "/changes/{change_id}/cancel"): (
        WORKERS,
        lambda w: ("POST", f"/changes/{_scheduled(w)}/cancel", {"reason": "no longer needed"}),
    ),
    ("POST", "/changes/{change_id}/reschedule"): (
        WORKERS,
        lambda w: (
            "POST",
            f"/changes/{_scheduled(w)}/reschedule",
            {"planned_start": "2099-01-01T10:00:00Z", "planned_end": "2099-01-01T11:00:00Z"},
        ),
    ),
    ("POST", "/changes/{change_id}/start"): (
        WORKERS,
        lambda w: ("POST", f"/changes/{_scheduled(w)}/start", None),
    ),
    ("POST", "/changes/{change_id}/complete"): (
        WORKERS,
        lambda w: ("POST", f"/changes/{_implementing(w)}/complete", {"close_code": "successful"}),
    ),
    ("POST", "/changes/{change_id}/close"): (
        WORKERS,
        lambda w: ("POST", f"/changes/{_in_review(w)}/close", {}),
    ),
    ("POST", "/changes/{change_id}/break-glass"): (
        WORKERS,
        lambda w: ("POST", f"/changes/{_frozen(w)}/break-glass", {"reason": "urgent hotfix now"}),
    ),
    ("GET", "/change-policies/{scope}"): (
        EVERYONE,
        lambda w: ("GET", "/change-policies/svc", None),
    ),
    ("PUT", "/change-policies/{scope}"): (
        GOVERNORS,
        lambda w: ("PUT", "/change-policies/svc", {"text": "rules: []"}),
    ),
    ("GET", "/change-windows"): (EVERYONE, lambda w: ("GET", "/change-windows", None)),
    ("POST", "/change-windows"): (
        GOVERNORS,
        lambda w: ("POST", "/change-windows", _window_body(w)),
    ),
    ("DELETE", "/change-windows/{window_id}"): (
        GOVERNORS,
        lambda w: ("DELETE", f"/change-windows/{_window_id(w)}", None),
    ),
    ("GET", "/environments"): (EVERYONE, lambda w: ("GET", "/environments", None)),
    ("PUT", "/environments/{name}"): (
        GOVERNORS,
        lambda w: ("PUT", "/environments/perf", {"rank": 5, "bake_s": 60}),
    ),
    ("POST", "/releases"): (
        WORKERS,
        lambda w: ("POST", "/releases", {"service": "svc", "version": f"x{next(_serial)}"}),
    ),
    ("GET", "/releases"): (EVERYONE, lambda w: ("GET", "/releases", None)),
    ("GET", "/releases/{release_id}"): (
        EVERYONE,
        lambda w: ("GET", f"/releases/{w.release_id()}", None),
    ),
    ("GET", "/releases/{release_id}/gates"): (
        EVERYONE,
        lambda w: ("GET", f"/releases/{w.release_id()}/gates", None),
    ),
    ("POST", "/deployments"): (
        WORKERS,
        lambda w: (
            "POST",
            "/deployments",
            {
                "pool": w.deployable_pool(),
                "version": "v2",
                "environment": "staging",
                "settings": {"bake_s": 0, "health_timeout_s": 0.2},
            },
        ),
    ),
    ("GET", "/deployments"): (EVERYONE, lambda w: ("GET", "/deployments", None)),
    ("GET", "/deployments/{deployment_id}"): (
        EVERYONE,
        lambda w: ("GET", f"/deployments/{w.held_deployment()}", None),
    ),
    ("GET", "/deployments/{deployment_id}/events"): (
        EVERYONE,
        lambda w: ("GET", f"/deployments/{w.held_deployment(finished=True)}/events", None),
    ),
    ("POST", "/deployments/{deployment_id}/pause"): (
        WORKERS,
        lambda w: ("POST", f"/deployments/{w.held_deployment()}/pause", {}),
    ),
    ("POST", "/deployments/{deployment_id}/resume"): (
        WORKERS,
        lambda w: ("POST", f"/deployments/{w.held_deployment(paused=True)}/resume", {}),
    ),
    ("POST", "/deployments/{deployment_id}/abort"): (
        WORKERS,
        lambda w: ("POST", f"/deployments/{w.held_deployment()}/abort", {}),
    ),
    ("POST", "/deployments/{deployment_id}/rollback"): (
        WORKERS,
        lambda w: ("POST", f"/deployments/{w.held_deployment()}/rollback", {}),
    ),
    ("POST", "/risk/score"): (EVERYONE, lambda w: ("POST", "/risk/score", {"metrics": {"la": 5}})),
    ("GET", "/risk/models"): (EVERYONE, lambda w: ("GET", "/risk/models", None)),
    ("POST", "/risk/models"): (GOVERNORS, lambda w: ("POST", "/risk/models", {"months": 12})),
    ("POST", "/risk/models/{version}/promote"): (
        GOVERNORS,
        lambda w: ("POST", f"/risk/models/{w.candidate_model()}/promote", None),
    ),
    ("POST", "/integrations"): (
        ADMIN,
        lambda w: ("POST", "/integrations", {"name": f"int{next(_serial)}"}),
    ),
    ("GET", "/integrations"): (INTEGRATION_READERS, lambda w: ("GET", "/integrations", None)),
    ("PATCH", "/integrations/{name}"): (
        ADMIN,
        lambda w: (
            "PATCH",
            f"/integrations/{w.new_integration()[0]}",
            {"version": 1, "ci_rules": [{"template": "{instance}"}]},
        ),
    ),
    ("DELETE", "/integrations/{name}"): (
        ADMIN,
        lambda w: ("DELETE", f"/integrations/{w.new_integration()[0]}", None),
    ),
    # Authenticated by the integration's token, whoever else the caller is.
    ("POST", "/integrations/alertmanager"): (
        EVERYONE,
        lambda w: (
            "POST",
            f"/integrations/alertmanager?token={w.new_integration()[1]}",
            am_payload(am_alert("matrix", instance="db1")),
        ),
    ),
    ("POST", "/alerts"): (
        ALERTERS,
        lambda w: ("POST", "/alerts", [{"source": "probe", "labels": {"alertname": "Down"}}]),
    ),
    ("GET", "/incidents"): (EVERYONE, lambda w: ("GET", "/incidents", None)),
    ("GET", "/incidents/metrics"): (EVERYONE, lambda w: ("GET", "/incidents/metrics", None)),
    ("GET", "/incidents/{incident_id}"): (
        EVERYONE,
        lambda w: ("GET", f"/incidents/{w.new_incident()[0]}", None),
    ),
    ("GET", "/incidents/{incident_id}/suspects"): (
        EVERYONE,
        lambda w: ("GET", f"/incidents/{w.new_incident()[0]}/suspects", None),
    ),
    ("POST", "/incidents/{incident_id}/rollback"): (
        RESPONDERS,
        lambda w: (
            "POST",
            f"/incidents/{w.new_incident()[0]}/rollback",
            {"deployment_id": w.held_deployment()},
        ),
    ),
    ("POST", "/incidents/{incident_id}/cause"): (
        RESPONDERS,
        lambda w: (
            "POST",
            f"/incidents/{w.new_incident()[0]}/cause",
            {"change_id": _change(w, receipt=True)},
        ),
    ),
    ("POST", "/incidents/{incident_id}/ack"): (RESPONDERS, lambda w: w.incident_action("ack")),
    ("POST", "/incidents/{incident_id}/resolve"): (
        RESPONDERS,
        lambda w: w.incident_action("resolve"),
    ),
    ("POST", "/incidents/{incident_id}/reopen"): (
        RESPONDERS,
        lambda w: w.incident_action("reopen", reason="still broken"),
    ),
    ("POST", "/incidents/{incident_id}/notes"): (
        RESPONDERS,
        lambda w: ("POST", f"/incidents/{w.new_incident()[0]}/notes", {"text": "n"}),
    ),
    ("POST", "/incidents/{incident_id}/links"): (
        RESPONDERS,
        lambda w: (
            "POST",
            f"/incidents/{w.new_incident()[0]}/links",
            {"change": str(_scheduled(w))},
        ),
    ),
    ("POST", "/oncall/schedules"): (OPS, lambda w: ("POST", "/oncall/schedules", _schedule())),
    ("GET", "/oncall/schedules"): (EVERYONE, lambda w: ("GET", "/oncall/schedules", None)),
    ("GET", "/oncall/schedules/{key}"): (
        EVERYONE,
        lambda w: ("GET", f"/oncall/schedules/{w.schedule()}", None),
    ),
    ("POST", "/oncall/schedules/{key}/overrides"): (
        OPS,
        lambda w: (
            "POST",
            f"/oncall/schedules/{w.schedule()}/overrides",
            {
                "username": "target",
                "starts_at": "2025-01-01T00:00Z",
                "ends_at": "2025-01-02T00:00Z",
            },
        ),
    ),
    ("GET", "/oncall/who"): (
        EVERYONE,
        lambda w: ("GET", f"/oncall/who?schedule={w.schedule()}", None),
    ),
    ("POST", "/slos"): (OPS, lambda w: ("POST", "/slos", _slo_body())),
    ("GET", "/slos"): (EVERYONE, lambda w: ("GET", "/slos", None)),
    ("POST", "/slos/alerts/evaluate"): (
        OPS,
        lambda w: ("POST", "/slos/alerts/evaluate", {"service": "svc"}),
    ),
    ("GET", "/slos/{slo_id}"): (EVERYONE, lambda w: ("GET", f"/slos/{w.slo_id()}", None)),
    ("GET", "/slos/{slo_id}/status"): (
        EVERYONE,
        lambda w: ("GET", f"/slos/{w.slo_id()}/status", None),
    ),
    ("GET", "/services/{key}/slo-status"): (
        EVERYONE,
        lambda w: ("GET", "/services/svc/slo-status", None),
    ),
    ("GET", "/tenants/{key}/availability"): (
        EVERYONE,
        lambda w: ("GET", f"/tenants/{w.tenant()}/availability?format=csv", None),
    ),
    ("GET", "/delivery/metrics"): (EVERYONE, lambda w: ("GET", "/delivery/metrics", None)),
    ("GET", "/delivery/time-to-delivery"): (
        EVERYONE,
        lambda w: ("GET", "/delivery/time-to-delivery?service=svc", None),
    ),
    ("POST", "/cmdb/import"): (
        OPS,
        lambda w: (
            "POST",
            "/cmdb/import",
            {"cis": [{"key": f"imp{next(_serial)}", "name": "i", "type": "host"}]},
        ),
    ),
}


def _schedule() -> dict[str, object]:
    return {
        "key": f"rota{next(_serial)}",
        "name": "rota",
        "time_zone": "UTC",
        "start_date": "2025-01-01",
        "members": ["target"],
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
    db1 = {"key": "db1", "name": "DB 1", "type": "database"}
    client.post("/api/v1/cis", json=db1, headers=admin.headers)
    for key in ("svc", "frozen"):
        ci = {"key": key, "name": key, "type": "business_service", "criticality": 4}
        client.post("/api/v1/cis", json=ci, headers=admin.headers)
    # Approvals of emergency changes are open to every working role in this test's policy.
    policy = "rules: [{name: flow, when: {type: normal}, then: auto_approve}, " + (
        "{name: anyone, when: {type: emergency}, then: {approve: {by: "
        '["role:developer", "role:operator", "role:change_manager", "role:admin"]}}}]'
    )
    client.put("/api/v1/change-policies/*", json={"text": policy}, headers=admin.headers)
    seed_finished_changes(db, 240)
    world = World(client, admin, caller, db)
    failures = []
    for (method, path), (allowed, example) in sorted(MATRIX.items()):
        verb, url, body = example(world)
        response = client.request(verb, API_PREFIX + url, json=body, headers=caller.headers)
        expected = "2xx" if role in allowed else "403"
        ok = response.is_success if role in allowed else response.status_code == 403
        if not ok:
            failures.append(f"{method} {path}: expected {expected}, got {response.status_code}")
    assert not failures, f"{role}: " + "; ".join(failures)
