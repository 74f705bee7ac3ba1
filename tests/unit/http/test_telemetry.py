"""The request histogram: cumulative Prometheus buckets, bounds inclusive."""

from __future__ import annotations

import re

from flywheel.http.telemetry import BUCKETS, RequestMetrics


def _buckets(text: str) -> dict[str, int]:
    found = re.findall(r'flywheel_http_request_seconds_bucket\{[^}]*le="([^"]+)"\} (\d+)', text)
    return {bound: int(n) for bound, n in found}


def test_buckets_are_cumulative_and_inclusive() -> None:
    metrics = RequestMetrics()
    for seconds in (0.001, 0.005, 0.0051, 0.3, 99.0):
        metrics.observe("GET", "/api/v1/me", 200, seconds)
    text = metrics.render()
    buckets = _buckets(text)
    assert list(buckets) == [str(b) for b in BUCKETS] + ["+Inf"]
    assert buckets["0.005"] == 2  # 0.005 lies on the bound: counted in it
    assert buckets["0.01"] == 3
    assert buckets["0.25"] == 3
    assert buckets["0.5"] == 4
    assert buckets["10.0"] == 4
    assert buckets["+Inf"] == 5
    assert 'flywheel_http_request_seconds_count{method="GET",route="/api/v1/me"} 5' in text
    assert 'flywheel_http_requests_total{method="GET",route="/api/v1/me",status="200"} 5' in text


def test_routes_and_methods_are_kept_apart() -> None:
    metrics = RequestMetrics()
    metrics.observe("GET", "/healthz", 200, 0.001)
    metrics.observe("POST", "/healthz", 405, 2.0)
    text = metrics.render()
    assert 'route="/healthz",le="0.005"} 1' in text
    assert 'method="POST",route="/healthz",le="2.5"} 1' in text
    assert 'method="POST",route="/healthz",le="1.0"} 0' in text
