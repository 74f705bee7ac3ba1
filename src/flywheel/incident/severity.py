"""Priority P1-P4 from impact and urgency (pure).

Impact comes from the CMDB: which business services the incident's CIs take down or
degrade, how critical those services are (1 most), and how many tenants depend on them.

| impact \\ urgency | high | medium | low |
|---|---|---|---|
| high   | P1 | P2 | P3 |
| medium | P2 | P3 | P4 |
| low    | P3 | P4 | P4 |
"""

from __future__ import annotations

from dataclasses import dataclass

HIGH, MEDIUM, LOW = 1, 2, 3
# Without CMDB knowledge of the CIs, Flywheel assumes a medium impact rather than none:
# a critical alert on an unknown service is still a P2.
UNKNOWN_IMPACT = MEDIUM
TENANTS_HIGH = 1000
CRITICAL_SERVICE = 2  # criticality 1-2 are the services the business cannot do without
LEVEL_NAMES = {HIGH: "high", MEDIUM: "medium", LOW: "low"}


@dataclass(frozen=True)
class ServiceHit:
    """A business service the incident impairs."""

    key: str
    status: str  # "down" or "degraded"
    criticality: int


def impact_level(services: list[ServiceHit], tenants_affected: int) -> int:
    """High, medium or low impact."""
    critical = [s for s in services if s.criticality <= CRITICAL_SERVICE]
    if any(s.status == "down" for s in critical) or tenants_affected >= TENANTS_HIGH:
        return HIGH
    if any(s.status == "down" for s in services) or critical or tenants_affected > 0:
        return MEDIUM
    return LOW


def priority(impact: int, urgency: int) -> int:
    """1 (P1, most urgent) to 4 (P4)."""
    return min(4, max(1, impact + urgency - 1))


def label(priority_value: int) -> str:
    """'P1' … 'P4'."""
    return f"P{priority_value}"
