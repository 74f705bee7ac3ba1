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
    make_delivery,
    make_held_deployment,
    make_incident,
    make_person,
    seed_finished_changes,
)
from tests.support import free_port

EVERYONE = frozenset(Role)
ADMIN = frozenset({Role.ADMIN})
AUDIT = frozenset({Role.AUDITOR, Role.ADMIN})
OPS = frozenset({Role.OPERATOR, Role.ADMIN})
ROLLBACK_GOVERNORS = frozenset({Role.OPERATOR, Role.CHANGE_MANAGER, Role.ADMIN})
WORKERS = frozenset({Role.DEVELOPER, Role.OPERATOR, Role.CHANGE_MANAGER, Role.ADMIN})
GOVERNORS = frozenset({Role.CHANGE_MANAGER, Role.ADMIN})
ALERTERS = frozenset({Role.DEVELOPER, Role.OPERATOR, Role.ADMIN})
RESPONDERS = WORKERS
INTEGRATION_READERS = frozenset({Role.OPERATOR, Role.AUDITOR, Role.ADMIN})
CREDENTIAL_READERS = INTEGRATION_READERS

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

    def policy(self) -> str:
        """A fresh escalation policy made by the admin: its key (at version 1)."""
        body = _policy()
        made = self.client.post(
            "/api/v1/escalation-policies", json=body, headers=self.admin.headers
        )
        assert made.status_code == 201, made.text
        return str(body["key"])

    def contact(self, owner: str) -> int:
        """A fresh contact method of a user ('users/x') or team ('teams/x'): its id."""
        body = {"channel": "email", "address": f"c{next(_serial)}@example.org"}
        url = f"/api/v1/{owner}/contact-methods"
        made = self.client.post(url, json=body, headers=self.admin.headers)
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def delivery(self) -> int:
        """A failed notification delivery of a fresh incident: its id."""
        return make_delivery(self.db, self.new_incident()[0])

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

    def credential(self) -> str:
        """A fresh token credential made by the admin (at version 1): its name."""
        name = f"cred{next(_serial)}"
        body = {"name": name, "kind": "token", "value": "t0ken"}
        made = self.client.post("/api/v1/credentials", json=body, headers=self.admin.headers)
        assert made.status_code == 201, made.text
        return name

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

    def problem(self, *, category: str | None = None) -> tuple[int, int]:
        """A fresh problem made by the admin (with its root-cause category): (id, version)."""
        body = {"title": f"p{next(_serial)}", "service": "svc"}
        made = self.client.post("/api/v1/problems", json=body, headers=self.admin.headers)
        assert made.status_code == 201, made.text
        found = made.json()
        if category:
            rca = {"version": found["version"], "category": category}
            url = f"/api/v1/problems/{found['id']}/rca"
            found = self.client.put(url, json=rca, headers=self.admin.headers).json()
        return int(found["id"]), int(found["version"])

    def route_request(self) -> Request:
        """A valid request to route a third-party problem's fix to a vendor task."""
        problem_id, version = self.problem(category="third_party")
        body = {"version": version, "owner": "target", "due_date": "2999-01-01"}
        return ("POST", f"/problems/{problem_id}/route", body)

    def routed_task(self) -> tuple[int, int]:
        """A problem whose fix went to a task: (problem id, fix id)."""
        problem_id, version = self.problem(category="operational/procedural")
        body = {"version": version, "owner": "target", "due_date": "2999-01-01"}
        url = f"/api/v1/problems/{problem_id}/route"
        made = self.client.post(url, json=body, headers=self.admin.headers)
        assert made.status_code == 201, made.text
        return problem_id, int(made.json()["id"])

    def delivery_id(self) -> int:
        """A backlog webhook waiting to be sent to an unreachable tracker."""
        name = f"trk{next(_serial)}"
        tracker = {"name": name, "kind": "github", "url": f"http://127.0.0.1:{free_port()}/"}
        self.client.post("/api/v1/problem-trackers", json=tracker, headers=self.admin.headers)
        problem_id, version = self.problem(category="software")
        url = f"/api/v1/problems/{problem_id}/route"
        body = {"version": version, "tracker": name}
        self.client.post(url, json=body, headers=self.admin.headers)
        listed = self.client.get(
            f"/api/v1/problems/{problem_id}/deliveries", headers=self.admin.headers
        )
        return int(listed.json()[0]["id"])

    def suggestion_id(self) -> int:
        """An open suggestion over three fresh recurring incidents."""
        letters = "".join(chr(97 + int(d)) for d in str(next(_serial)))  # numbers are normalised
        title = f"Boom{letters} on x"
        ids = {make_incident(self.db, service="svc", title=title) for _ in range(3)}
        run = self.client.post("/api/v1/problems/suggestions", json={}, headers=self.admin.headers)
        assert run.status_code == 201, run.text
        listed = self.client.get("/api/v1/problems/suggestions", headers=self.admin.headers)
        return next(int(s["id"]) for s in listed.json() if set(s["incident_ids"]) == ids)

    def known_error_id(self) -> tuple[int, int]:
        """A fresh known error: (id, version)."""
        body = {"title": "k", "workaround": "restart", "text": f"boom{next(_serial)}"}
        made = self.client.post("/api/v1/known-errors", json=body, headers=self.admin.headers)
        assert made.status_code == 201, made.text
        return int(made.json()["id"]), int(made.json()["version"])

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


def _probe(w: World) -> str:
    """A fresh probe made by the admin, of a port nobody listens on (fails at once): its name."""
    name = f"probe{next(_serial)}"
    body = {
        "name": name,
        "ci_key": "svc",
        "url": f"http://127.0.0.1:{free_port()}/",
        "enabled": False,
    }
    made = w.client.post("/api/v1/probes", json=body, headers=w.admin.headers)
    assert made.status_code == 201, made.text
    return name


def _rollback_policy(w: World) -> str:
    """A fresh service with its own automatic-rollback policy: the service's key."""
    service = w.new_app()
    made = w.client.put(
        f"/api/v1/autorollback-policies/{service}", json={}, headers=w.admin.headers
    )
    assert made.status_code == 200, made.text
    return service


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
    ("POST", "/me/sessions/revoke-all"): (
        EVERYONE,
        lambda w: ("POST", "/me/sessions/revoke-all", None),
    ),
    ("POST", "/users/{username}/sessions/revoke-all"): (
        ADMIN,
        lambda w: ("POST", "/users/target/sessions/revoke-all", None),
    ),
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
    ("POST", "/credentials"): (
        OPS,
        lambda w: (
            "POST",
            "/credentials",
            {"name": f"cred{next(_serial)}", "kind": "token", "value": "t0ken"},
        ),
    ),
    ("GET", "/credentials"): (CREDENTIAL_READERS, lambda w: ("GET", "/credentials", None)),
    ("GET", "/credentials/{name}"): (
        CREDENTIAL_READERS,
        lambda w: ("GET", f"/credentials/{w.credential()}", None),
    ),
    ("POST", "/credentials/{name}/rotate"): (
        OPS,
        lambda w: (
            "POST",
            f"/credentials/{w.credential()}/rotate",
            {"version": 1, "value": "n3w"},
        ),
    ),
    ("DELETE", "/credentials/{name}"): (
        OPS,
        lambda w: ("DELETE", f"/credentials/{w.credential()}", None),
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
    ("POST", "/escalation-policies"): (
        OPS,
        lambda w: ("POST", "/escalation-policies", _policy()),
    ),
    ("GET", "/escalation-policies"): (EVERYONE, lambda w: ("GET", "/escalation-policies", None)),
    ("GET", "/escalation-policies/{key}"): (
        EVERYONE,
        lambda w: ("GET", f"/escalation-policies/{w.policy()}", None),
    ),
    ("PUT", "/escalation-policies/{key}"): (
        OPS,
        lambda w: (
            "PUT",
            f"/escalation-policies/{w.policy()}",
            {**_policy(keyed=False), "version": 1},
        ),
    ),
    ("DELETE", "/escalation-policies/{key}"): (
        OPS,
        lambda w: ("DELETE", f"/escalation-policies/{w.policy()}?version=1", None),
    ),
    ("GET", "/users/{username}/contact-methods"): (
        EVERYONE,
        lambda w: ("GET", "/users/target/contact-methods", None),
    ),
    ("POST", "/users/{username}/contact-methods"): (
        OPS,
        lambda w: (
            "POST",
            "/users/target/contact-methods",
            {"channel": "email", "address": f"u{next(_serial)}@example.org"},
        ),
    ),
    ("DELETE", "/users/{username}/contact-methods/{contact_id}"): (
        OPS,
        lambda w: ("DELETE", f"/users/target/contact-methods/{w.contact('users/target')}", None),
    ),
    ("GET", "/teams/{key}/contact-methods"): (
        EVERYONE,
        lambda w: ("GET", "/teams/core/contact-methods", None),
    ),
    ("POST", "/teams/{key}/contact-methods"): (
        OPS,
        lambda w: (
            "POST",
            "/teams/core/contact-methods",
            {"channel": "slack", "address": f"https://hooks.example.org/{next(_serial)}"},
        ),
    ),
    ("DELETE", "/teams/{key}/contact-methods/{contact_id}"): (
        OPS,
        lambda w: ("DELETE", f"/teams/core/contact-methods/{w.contact('teams/core')}", None),
    ),
    ("GET", "/notifications"): (EVERYONE, lambda w: ("GET", "/notifications", None)),
    ("GET", "/notifications/{delivery_id}"): (
        EVERYONE,
        lambda w: ("GET", f"/notifications/{w.delivery()}", None),
    ),
    ("POST", "/notifications/{delivery_id}/retry"): (
        RESPONDERS,
        lambda w: ("POST", f"/notifications/{w.delivery()}/retry", None),
    ),
    ("GET", "/incidents/{incident_id}/escalation"): (
        EVERYONE,
        lambda w: ("GET", f"/incidents/{w.new_incident()[0]}/escalation", None),
    ),
    ("GET", "/oncall/who"): (
        EVERYONE,
        lambda w: ("GET", f"/oncall/who?schedule={w.schedule()}", None),
    ),
    ("POST", "/slos"): (OPS, lambda w: ("POST", "/slos", _slo_body())),
    ("GET", "/problems"): (EVERYONE, lambda w: ("GET", "/problems", None)),
    ("POST", "/problems"): (
        WORKERS,
        lambda w: ("POST", "/problems", {"title": "t", "service": "svc"}),
    ),
    ("GET", "/problems/measures"): (EVERYONE, lambda w: ("GET", "/problems/measures", None)),
    ("GET", "/problems/backlog.csv"): (EVERYONE, lambda w: ("GET", "/problems/backlog.csv", None)),
    ("GET", "/problems/suggestions"): (
        EVERYONE,
        lambda w: ("GET", "/problems/suggestions", None),
    ),
    ("POST", "/problems/suggestions"): (WORKERS, lambda w: ("POST", "/problems/suggestions", {})),
    ("POST", "/problems/suggestions/{suggestion_id}/accept"): (
        WORKERS,
        lambda w: ("POST", f"/problems/suggestions/{w.suggestion_id()}/accept", {}),
    ),
    ("POST", "/problems/suggestions/{suggestion_id}/dismiss"): (
        WORKERS,
        lambda w: ("POST", f"/problems/suggestions/{w.suggestion_id()}/dismiss", {"reason": "no"}),
    ),
    ("POST", "/problems/verify"): (WORKERS, lambda w: ("POST", "/problems/verify", None)),
    ("GET", "/problems/{problem_id}"): (
        EVERYONE,
        lambda w: ("GET", f"/problems/{w.problem()[0]}", None),
    ),
    ("POST", "/problems/{problem_id}/incidents"): (
        WORKERS,
        lambda w: (
            "POST",
            f"/problems/{w.problem()[0]}/incidents",
            {"incidents": [str(make_incident(w.db, service="svc"))]},
        ),
    ),
    ("POST", "/problems/{problem_id}/state"): (
        WORKERS,
        lambda w: (
            "POST",
            f"/problems/{w.problem()[0]}/state",
            {"version": 1, "state": "investigating"},
        ),
    ),
    ("PUT", "/problems/{problem_id}/rca"): (
        WORKERS,
        lambda w: (
            "PUT",
            f"/problems/{w.problem()[0]}/rca",
            {"version": 1, "category": "software"},
        ),
    ),
    ("POST", "/problems/{problem_id}/route"): (WORKERS, lambda w: w.route_request()),
    ("POST", "/problems/{problem_id}/fixes/{fix_id}/finish"): (
        WORKERS,
        lambda w: ("POST", "/problems/{}/fixes/{}/finish".format(*w.routed_task()), {}),
    ),
    ("POST", "/problems/{problem_id}/close"): (
        WORKERS,
        lambda w: (
            "POST",
            f"/problems/{w.problem()[0]}/close",
            {"version": 1, "resolution": "duplicate"},
        ),
    ),
    ("GET", "/problems/{problem_id}/deliveries"): (
        EVERYONE,
        lambda w: ("GET", f"/problems/{w.problem()[0]}/deliveries", None),
    ),
    ("POST", "/problem-deliveries/{delivery_id}/retry"): (
        WORKERS,
        lambda w: ("POST", f"/problem-deliveries/{w.delivery_id()}/retry", None),
    ),
    ("GET", "/problem-trackers"): (EVERYONE, lambda w: ("GET", "/problem-trackers", None)),
    ("POST", "/problem-trackers"): (
        ADMIN,
        lambda w: (
            "POST",
            "/problem-trackers",
            {"name": f"t{next(_serial)}", "kind": "jira", "url": "http://127.0.0.1:1/"},
        ),
    ),
    ("GET", "/known-errors"): (EVERYONE, lambda w: ("GET", "/known-errors", None)),
    ("POST", "/known-errors"): (
        WORKERS,
        lambda w: ("POST", "/known-errors", {"title": "k", "workaround": "w", "text": "boom"}),
    ),
    ("GET", "/known-errors/match"): (
        EVERYONE,
        lambda w: ("GET", f"/known-errors/match?incident={make_incident(w.db)}", None),
    ),
    ("POST", "/known-errors/{known_error_id}/supersede"): (
        WORKERS,
        lambda w: (
            "POST",
            f"/known-errors/{w.known_error_id()[0]}/supersede",
            {"version": 1, "by": str(w.known_error_id()[0])},
        ),
    ),
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
    ("POST", "/probes"): (
        OPS,
        lambda w: (
            "POST",
            "/probes",
            {"name": f"p{next(_serial)}", "ci_key": "svc", "url": "http://127.0.0.1:9/"},
        ),
    ),
    ("GET", "/probes"): (EVERYONE, lambda w: ("GET", "/probes", None)),
    ("GET", "/probes/{name}"): (EVERYONE, lambda w: ("GET", f"/probes/{_probe(w)}", None)),
    ("PATCH", "/probes/{name}"): (
        OPS,
        lambda w: ("PATCH", f"/probes/{_probe(w)}", {"version": 1, "interval_s": 120}),
    ),
    ("DELETE", "/probes/{name}"): (OPS, lambda w: ("DELETE", f"/probes/{_probe(w)}", None)),
    ("POST", "/probes/{name}/run"): (OPS, lambda w: ("POST", f"/probes/{_probe(w)}/run", None)),
    ("POST", "/probe-runs"): (OPS, lambda w: ("POST", "/probe-runs", None)),
    ("GET", "/autorollback-policies"): (
        EVERYONE,
        lambda w: ("GET", "/autorollback-policies", None),
    ),
    ("GET", "/autorollback-policies/{service_key}"): (
        EVERYONE,
        lambda w: ("GET", "/autorollback-policies/svc", None),
    ),
    ("PUT", "/autorollback-policies/{service_key}"): (
        ROLLBACK_GOVERNORS,
        lambda w: ("PUT", f"/autorollback-policies/{w.new_app()}", {"min_score": 0.7}),
    ),
    ("DELETE", "/autorollback-policies/{service_key}"): (
        ROLLBACK_GOVERNORS,
        lambda w: ("DELETE", f"/autorollback-policies/{_rollback_policy(w)}", None),
    ),
    ("GET", "/incidents/{incident_id}/autorollback"): (
        EVERYONE,
        lambda w: ("GET", f"/incidents/{w.new_incident()[0]}/autorollback", None),
    ),
}


def _policy(*, keyed: bool = True) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "esc",
        "steps": [{"targets": [{"kind": "user", "ref": "target"}], "wait_minutes": 5}],
    }
    return {"key": f"esc{next(_serial)}", **body} if keyed else body


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
