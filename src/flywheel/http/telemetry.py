"""Flywheel's own health in /metrics: request counts, errors and latency, database pool use."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections import defaultdict
from itertools import accumulate
from typing import Any

from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STARTED = time.time()


class RequestMetrics:
    """Counts and latency histograms per route template, method and status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = {}  # per bucket, not cumulative
        self._sum: dict[tuple[str, str], float] = defaultdict(float)
        self.in_flight = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        key = (method, route)
        slot = bisect_left(BUCKETS, seconds)  # the first bucket whose bound holds it; last: +Inf
        with self._lock:
            self._count[(method, route, str(status))] += 1
            counts = self._buckets.get(key)
            if counts is None:
                counts = self._buckets[key] = [0] * (len(BUCKETS) + 1)
            counts[slot] += 1
            self._sum[key] += seconds

    def render(self) -> str:
        """The metrics in Prometheus text format."""
        lines = [
            "# HELP flywheel_http_requests_total HTTP requests answered, by route and status.",
            "# TYPE flywheel_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self._count.items()):
                labels = f'method="{method}",route="{_escape(route)}",status="{status}"'
                lines.append(f"flywheel_http_requests_total{{{labels}}} {n}")
            lines += [
                "# HELP flywheel_http_request_seconds Time to answer, by route.",
                "# TYPE flywheel_http_request_seconds histogram",
            ]
            for (method, route), slots in sorted(self._buckets.items()):
                counts = list(accumulate(slots))  # Prometheus buckets are cumulative
                labels = f'method="{method}",route="{_escape(route)}"'
                for bound, n in zip(BUCKETS, counts, strict=False):
                    lines.append(
                        f'flywheel_http_request_seconds_bucket{{{labels},le="{bound}"}} {n}'
                    )
                lines.append(
                    f'flywheel_http_request_seconds_bucket{{{labels},le="+Inf"}} {counts[-1]}'
                )
                total = self._sum[(method, route)]
                lines.append(f"flywheel_http_request_seconds_sum{{{labels}}} {total:.6f}")
                lines.append(f"flywheel_http_request_seconds_count{{{labels}}} {counts[-1]}")
            lines += [
                "# TYPE flywheel_http_requests_in_flight gauge",
                f"flywheel_http_requests_in_flight {self.in_flight}",
            ]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def process_metrics(engine: Engine) -> str:
    """Database pool use and process start time."""
    pool: Any = engine.pool
    lines = [
        "# TYPE flywheel_process_start_time_seconds gauge",
        f"flywheel_process_start_time_seconds {_STARTED:.0f}",
    ]
    if hasattr(pool, "checkedout") and hasattr(pool, "size"):
        lines += [
            "# HELP flywheel_db_pool_connections Database connections of this process.",
            "# TYPE flywheel_db_pool_connections gauge",
            f'flywheel_db_pool_connections{{state="in_use"}} {pool.checkedout()}',
            f'flywheel_db_pool_connections{{state="size"}} {pool.size()}',
        ]
    return "\n".join(lines) + "\n"


def route_template(scope: Scope) -> str:
    """The matched route with its parameters named ('/api/v1/users/{username}'), never raw ids."""
    if "route" not in scope:
        return "unmatched"
    segments = str(scope.get("path", "")).split("/")
    for name, value in (scope.get("path_params") or {}).items():
        text = str(value)
        for i in range(len(segments) - 1, -1, -1):
            if segments[i] == text:
                segments[i] = "{" + name + "}"
                break
    return "/".join(segments)


class RequestMetricsMiddleware:
    """Time every HTTP request and record it under its route template (not its raw path)."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight += 1
        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.in_flight -= 1
            template = route_template(scope)
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope.get("method", "GET"), template, status, elapsed)
