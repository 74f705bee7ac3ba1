"""One HTTP probe: the expected status as a rule, and the check itself (no database)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from flywheel.errors import InvalidInput

ERROR_LENGTH = 200


@dataclass(frozen=True)
class StatusRule:
    """Accepted status codes: single codes and inclusive ranges."""

    ranges: tuple[tuple[int, int], ...]

    def accepts(self, code: int) -> bool:
        """Whether a status code is one the probe expects."""
        return any(low <= code <= high for low, high in self.ranges)


def _code(text: str, spec: str) -> int:
    if not text.strip().isdigit() or not 100 <= int(text) <= 599:
        raise InvalidInput(f"expected_status '{spec}': '{text.strip()}' is not a status 100-599")
    return int(text)


def parse_status(spec: str) -> StatusRule:
    """'200', '200-299' or a comma list of both, e.g. '200,204,300-399'."""
    ranges = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        first = _code(low, spec)
        last = _code(high, spec) if high else first
        if last < first:
            raise InvalidInput(f"expected_status '{spec}': range {first}-{last} is backwards")
        ranges.append((first, last))
    return StatusRule(tuple(ranges))


@dataclass(frozen=True)
class ProbeSpec:
    """What to request and what counts as healthy."""

    url: str
    method: str
    timeout_s: float
    expected: StatusRule
    body_contains: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one run found."""

    ok: bool
    status_code: int | None
    latency_ms: float | None
    error: str | None


def _short(text: str) -> str:
    return text if len(text) <= ERROR_LENGTH else text[: ERROR_LENGTH - 1] + "…"


def _judge(spec: ProbeSpec, response: httpx.Response, latency_ms: float) -> Outcome:
    code = response.status_code
    if not spec.expected.accepts(code):
        return Outcome(False, code, latency_ms, f"unexpected status {code}")
    if spec.body_contains and spec.body_contains not in response.text:
        return Outcome(False, code, latency_ms, _short(f"body lacks '{spec.body_contains}'"))
    return Outcome(True, code, latency_ms, None)


def check(spec: ProbeSpec, client: httpx.Client) -> Outcome:
    """Send the request once; any failure is an outcome, never an exception."""
    started = time.perf_counter()
    try:
        response = client.request(spec.method, spec.url, timeout=spec.timeout_s)
    except httpx.TimeoutException:
        return Outcome(False, None, None, f"no answer within {spec.timeout_s:g}s")
    except httpx.HTTPError as exc:
        return Outcome(False, None, None, _short(f"{type(exc).__name__}: {exc}"))
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return _judge(spec, response, latency_ms)
