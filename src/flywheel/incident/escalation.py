"""Pure rules of escalation: where a policy goes after a step, and when a failed send is retried."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Position:
    """Where an escalation stands: the round (0 = first pass) and the step within it."""

    round: int
    step: int


def after(position: Position, *, steps: int, repeat: int) -> Position | None:
    """The next step after `position`, or None when every step of every round has fired."""
    if position.step + 1 < steps:
        return Position(position.round, position.step + 1)
    if position.round < repeat:
        return Position(position.round + 1, 0)
    return None


def retry_delay_s(attempts: int, *, base_s: float, cap_s: float) -> float:
    """Exponential backoff: base, 2 base, 4 base, … after the 1st, 2nd, 3rd failed attempt."""
    return float(min(cap_s, base_s * 2 ** max(0, attempts - 1)))


def next_attempt(now: datetime, attempts: int, *, base_s: float, cap_s: float) -> datetime:
    """When a delivery that failed `attempts` times is tried again."""
    return now + timedelta(seconds=retry_delay_s(attempts, base_s=base_s, cap_s=cap_s))


def applies_to(services: list[str], service: str) -> bool:
    """Whether a policy assigned to `services` covers `service` (exact key match)."""
    return service in services
