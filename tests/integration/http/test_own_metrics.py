"""/metrics also shows Flywheel's own health: requests by route template, errors, latency."""

from __future__ import annotations

from fastapi.testclient import TestClient

from flywheel.auth.roles import Role
from flywheel.db import Database
from tests.factories import make_person


def _value(text: str, prefix: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert lines, f"no metric line starts with {prefix!r}"
    return float(lines[0].rsplit(" ", 1)[1])


def test_requests_are_counted_by_route_template_and_status(
    client: TestClient, db: Database
) -> None:
    admin = make_person(db, Role.ADMIN)
    for username in ("nobody-1", "nobody-2"):
        assert client.get(f"/api/v1/users/{username}", headers=admin.headers).status_code == 404
    assert client.get("/api/v1/me").status_code == 401

    text = client.get("/metrics", headers=admin.headers).text

    route = 'method="GET",route="/api/v1/users/{username}"'
    assert _value(text, f'flywheel_http_requests_total{{{route},status="404"}}') == 2
    assert (
        _value(text, 'flywheel_http_requests_total{method="GET",route="/api/v1/me",status="401"}')
        == 1
    )
    assert _value(text, f"flywheel_http_request_seconds_count{{{route}}}") == 2
    assert _value(text, f'flywheel_http_request_seconds_bucket{{{route},le="+Inf"}}') == 2
    assert "nobody-1" not in text, text  # raw paths never become labels
    assert _value(text, 'flywheel_db_pool_connections{state="size"}') >= 1
