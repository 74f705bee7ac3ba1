"""Ranking the changes and deployments that may have caused an incident (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

LOOKBACK = timedelta(hours=24)


@dataclass(frozen=True)
class Candidate:
    """A deployment (and its change) near the incident in the CMDB and in time."""

    deployment_id: int
    change_id: int | None
    service: str
    version: str
    state: str
    started_at: datetime | None
    finished_at: datetime | None
    distance: int  # 0: the failing service itself; 1: something it needs directly; …
    risk_score: float | None


@dataclass(frozen=True)
class Suspect:
    """A candidate with its score and the reasons, in words."""

    candidate: Candidate
    score: float
    reasons: list[str]


def _recency(candidate: Candidate, detected_at: datetime) -> tuple[float, str]:
    moment = candidate.finished_at or candidate.started_at
    if candidate.finished_at is None:
        return 1.0, "its deployment is still in progress"
    assert moment is not None
    minutes = max(0.0, (detected_at - moment).total_seconds() / 60)
    weight = 1.0 / (1.0 + minutes / 30)  # half weight 30 minutes before detection
    return weight, f"deployed {minutes:.0f} min before detection"


def rank(candidates: list[Candidate], *, detected_at: datetime) -> list[Suspect]:
    """Score each candidate: nearer in the CMDB, closer before detection, riskier ranks first."""
    suspects = []
    for c in candidates:
        moment = c.started_at or c.finished_at
        if moment is None or moment > detected_at or detected_at - moment > LOOKBACK:
            continue
        recency, when = _recency(c, detected_at)
        nearness = 1.0 / (1 + c.distance)
        risk = c.risk_score if c.risk_score is not None else 0.3
        score = round(0.45 * recency + 0.35 * nearness + 0.2 * risk, 4)
        where = (
            "on the failing service"
            if c.distance == 0
            else (f"on {c.service}, {c.distance} step(s) away in the CMDB")
        )
        reasons = [where, when, f"risk {risk:.2f}"]
        if c.state in ("rolled_back", "aborted"):
            reasons.append(f"already {c.state}")
            score = round(score * 0.5, 4)
        suspects.append(Suspect(c, score, reasons))
    return sorted(suspects, key=lambda s: (-s.score, -s.candidate.deployment_id))
