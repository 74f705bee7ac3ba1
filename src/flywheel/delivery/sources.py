"""Failures other domains link to deployments (incidents), for the change failure rate.

The incident domain registers a provider here; until one is registered, the failure
signals are the deployment's own (rolled back, failed, rolled back later) and its change's
close code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class LinkedFailure:
    """A failure in production caused by a deployment (an incident linked to it)."""

    deployment_id: int
    detected_at: datetime
    recovered_at: datetime | None


class FailureProvider(Protocol):
    """Failures linked to production deployments that finished in [start, end).

    With `services`, only those services' deployments are asked for (a provider may
    return others; they are ignored). A one-service dashboard should not read them all.
    """

    def __call__(
        self,
        session: Session,
        *,
        start: datetime,
        end: datetime,
        services: Sequence[str] | None = None,
    ) -> Iterable[LinkedFailure]: ...


FAILURE_PROVIDERS: dict[str, FailureProvider] = {}


def register_failures(name: str, provider: FailureProvider) -> None:
    """Add (or replace) a source of deployment-linked failures."""
    FAILURE_PROVIDERS[name] = provider


def unregister_failures(name: str) -> None:
    """Remove a source of deployment-linked failures."""
    FAILURE_PROVIDERS.pop(name, None)
