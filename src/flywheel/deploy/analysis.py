"""Judging a batch: did the new instances serve as well as the old ones? (pure)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flywheel.deploy.drivers.base import ServerStats


@dataclass(frozen=True)
class Traffic:
    """Requests and errors a set of servers served between two samples."""

    requests: int = 0
    errors: int = 0

    @property
    def error_rate(self) -> float:
        """Errors per request (0 when nothing was served)."""
        return self.errors / self.requests if self.requests else 0.0

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(self.requests + other.requests, self.errors + other.errors)


@dataclass(frozen=True)
class Verdict:
    """Whether a batch may stay, and the evidence for it."""

    healthy: bool
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _served(stats: ServerStats) -> int:
    return stats.responses_2xx + stats.responses_5xx + stats.connection_errors


def _failed(stats: ServerStats) -> int:
    return stats.responses_5xx + stats.connection_errors + stats.response_errors


def traffic_between(
    before: Mapping[str, ServerStats], after: Mapping[str, ServerStats], servers: Iterable[str]
) -> Traffic:
    """What the named servers served between two samples (counter resets count as zero)."""
    total = Traffic()
    for name in servers:
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            continue
        requests = max(0, _served(new) - _served(old))
        errors = max(0, _failed(new) - _failed(old))
        total = total + Traffic(requests, min(errors, requests) if requests else errors)
    return total


def judge_batch(
    new: Traffic,
    old: Traffic | None,
    *,
    unhealthy: list[str],
    max_error_rate: float,
    min_requests: int,
) -> Verdict:
    """Fail a batch that is unhealthy or errs more than allowed and than the old instances."""
    evidence: dict[str, Any] = {
        "new": {"requests": new.requests, "errors": new.errors, "error_rate": new.error_rate},
        "old": None
        if old is None
        else {
            "requests": old.requests,
            "errors": old.errors,
            "error_rate": old.error_rate,
        },
        "unhealthy": unhealthy,
        "max_error_rate": max_error_rate,
    }
    if unhealthy:
        return Verdict(False, f"health check failing on {', '.join(unhealthy)}", evidence)
    if new.requests < min_requests:
        return Verdict(True, f"too little traffic to judge ({new.requests} requests)", evidence)
    baseline = old.error_rate if old is not None and old.requests >= min_requests else 0.0
    if new.error_rate > max_error_rate and new.error_rate > 2 * baseline:
        return Verdict(
            False,
            f"new version failed {new.errors} of {new.requests} requests "
            f"({new.error_rate:.1%}; allowed {max_error_rate:.1%}, old version {baseline:.1%})",
            evidence,
        )
    return Verdict(True, f"{new.requests} requests, {new.error_rate:.2%} errors", evidence)
