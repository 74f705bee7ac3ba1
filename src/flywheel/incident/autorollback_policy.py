"""Whether a policy lets Flywheel roll back an incident's top suspect on its own (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flywheel.incident.suspects import Suspect

IN_FLIGHT = ("pending", "running", "paused")


@dataclass(frozen=True)
class RollbackPolicy:
    """The conditions under which the top suspect is rolled back without a person."""

    enabled: bool
    min_score: float
    window_minutes: int
    environments: tuple[str, ...]
    max_distance: int
    origin: str  # "settings" or "service <name>"

    def describe(self) -> str:
        """The policy in one line, for timelines."""
        if not self.enabled:
            return f"automatic rollback off ({self.origin})"
        where = "the failing service" + (
            f" or a CI up to {self.max_distance} step(s) away" if self.max_distance else ""
        )
        envs = "/".join(self.environments) or "no environment"
        return (
            f"{envs} deployment of {where}, finished within {self.window_minutes} min or still "
            f"running, suspect score ≥ {self.min_score:.2f} ({self.origin})"
        )

    def as_dict(self) -> dict[str, Any]:
        """The policy as stored with a decision."""
        return {
            "enabled": self.enabled,
            "min_score": self.min_score,
            "window_minutes": self.window_minutes,
            "environments": list(self.environments),
            "max_distance": self.max_distance,
            "origin": self.origin,
        }


@dataclass(frozen=True)
class Verdict:
    """Roll back or not, and why in words."""

    allowed: bool
    reason: str


def _timing(suspect: Suspect, policy: RollbackPolicy, now: datetime) -> str | None:
    """Why the deployment's state or timing rules it out, or None when it qualifies."""
    c = suspect.candidate
    if c.state in IN_FLIGHT:
        return None
    if c.state != "succeeded":
        return f"it is already {c.state}"
    if c.finished_at is None:
        return "it has no finish time"
    age = now - c.finished_at
    if age > timedelta(minutes=policy.window_minutes):
        minutes = age.total_seconds() / 60
        return f"it finished {minutes:.0f} min ago, outside the {policy.window_minutes} min window"
    return None


def judge(policy: RollbackPolicy, suspect: Suspect, *, environment: str, now: datetime) -> Verdict:
    """Apply the policy to the top suspect."""
    c = suspect.candidate
    if not policy.enabled:
        return Verdict(False, f"automatic rollback is off for this service ({policy.origin})")
    if environment not in policy.environments:
        return Verdict(False, f"it deployed to {environment}, not {'/'.join(policy.environments)}")
    if c.distance > policy.max_distance:
        return Verdict(
            False,
            f"{c.service} is {c.distance} step(s) away, the policy allows {policy.max_distance}",
        )
    timing = _timing(suspect, policy, now)
    if timing is not None:
        return Verdict(False, timing)
    if suspect.score < policy.min_score:
        return Verdict(
            False, f"its suspect score {suspect.score:.2f} is below {policy.min_score:.2f}"
        )
    return Verdict(True, f"suspect score {suspect.score:.2f}; " + "; ".join(suspect.reasons))
