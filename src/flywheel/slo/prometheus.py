"""Instant PromQL queries against a configured Prometheus (its HTTP API v1)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import httpx

WINDOW_PLACEHOLDER = "$window"


class PrometheusUnavailable(Exception):
    """Prometheus could not be reached or did not answer a query; the message says why."""


class PrometheusClient:
    """Evaluates instant queries; one scalar (or one-sample vector) per query."""

    def __init__(
        self, base_url: str, *, timeout_s: float, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _get(self, query: str, at: datetime) -> dict[str, Any]:
        params = {"query": query, "time": f"{at.timestamp():.3f}"}
        try:
            answer = self._http.get("/api/v1/query", params=params)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise PrometheusUnavailable(f"Prometheus at {self.base_url}: {reason}") from exc
        try:
            body: dict[str, Any] = answer.json()
        except ValueError as exc:
            raise PrometheusUnavailable(
                f"Prometheus at {self.base_url} answered {answer.status_code} without JSON"
            ) from exc
        if answer.status_code != 200 or body.get("status") != "success":
            error = body.get("error") or answer.reason_phrase
            raise PrometheusUnavailable(f"Prometheus rejected the query: {error}")
        data: dict[str, Any] = body.get("data") or {}
        return data

    def scalar(self, query: str, at: datetime) -> float | None:
        """The query's single value at `at`; None when it returns nothing (no data) or NaN."""
        data = self._get(query, at)
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar" and isinstance(result, list):
            return _number(result)
        if kind == "vector" and isinstance(result, list):
            if not result:
                return None
            if len(result) > 1:
                raise PrometheusUnavailable(
                    f"the query returned {len(result)} series: aggregate it to one (sum(...))"
                )
            return _number(result[0].get("value"))
        raise PrometheusUnavailable(f"the query returned a {kind}, not a scalar or a vector")


def _number(pair: Any) -> float | None:
    try:
        value = float(pair[1])
    except (TypeError, ValueError, IndexError) as exc:
        raise PrometheusUnavailable(f"unreadable sample {pair!r}") from exc
    return None if math.isnan(value) or math.isinf(value) else value


def with_window(query: str, window: str) -> str:
    """The query with its $window placeholder replaced by a range such as 1h or 30d."""
    return query.replace(WINDOW_PLACEHOLDER, window)
