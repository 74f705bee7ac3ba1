"""Problem suggestions (pure): incidents recurring on one CI or with one signature."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from flywheel.problem.signatures import IncidentFacts, signature


@dataclass(frozen=True)
class Rules:
    """When recurrence is worth a problem."""

    period_s: float = 14 * 86400.0
    min_incidents: int = 3
    by_ci: bool = True
    by_signature: bool = True


@dataclass
class Suggestion:
    """Incidents that look like one underlying problem, with why."""

    basis: str
    value: str
    incident_ids: list[int]
    first_s: float
    last_s: float
    evidence: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A stable key: the same evidence gives the same suggestion on every run."""
        text = f"{self.basis}|{self.value}|{self.incident_ids[0]}"
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _keys(facts: IncidentFacts, rules: Rules) -> list[tuple[str, str]]:
    keys = []
    if rules.by_signature:
        keys.append(("signature", signature(facts)))
    if rules.by_ci and facts.ci:
        keys.append(("ci", facts.ci))
    return keys


def _bursts(members: list[IncidentFacts], period_s: float) -> list[list[IncidentFacts]]:
    """Incidents opened within `period_s` of the first of their window (windows don't overlap).

    A chain (each within the period of the one before) would let a signature that is
    merely common grow one group spanning months; a window keeps "recurs within a period".
    """
    runs: list[list[IncidentFacts]] = []
    for facts in sorted(members, key=lambda f: (f.opened_at_s, f.id)):
        if runs and facts.opened_at_s - runs[-1][0].opened_at_s <= period_s:
            runs[-1].append(facts)
        else:
            runs.append([facts])
    return runs


def suggest(
    incidents: Iterable[IncidentFacts], rules: Rules, *, exclude: set[int] | None = None
) -> list[Suggestion]:
    """Recurrence groups, largest first; incidents in `exclude` (already in a problem) skipped."""
    skip = exclude or set()
    buckets: dict[tuple[str, str], list[IncidentFacts]] = defaultdict(list)
    for facts in incidents:
        if facts.id in skip:
            continue
        for key in _keys(facts, rules):
            buckets[key].append(facts)
    found: dict[frozenset[int], Suggestion] = {}
    for (basis, value), members in buckets.items():
        for run in _bursts(members, rules.period_s):
            ids = frozenset(f.id for f in run)
            if len(ids) < rules.min_incidents or ids in found:
                continue
            found[ids] = _suggestion(basis, value, run)
    return sorted(found.values(), key=lambda s: (-len(s.incident_ids), s.first_s))


def _suggestion(basis: str, value: str, run: list[IncidentFacts]) -> Suggestion:
    services = sorted({f.service for f in run})
    cis = sorted({f.ci for f in run if f.ci})
    evidence: dict[str, object] = {
        "why": f"{len(run)} incidents with the same {basis} ({value})",
        "services": services[:20],
        "cis": cis[:20],
        "titles": sorted({f.title for f in run})[:5],
    }
    return Suggestion(
        basis=basis,
        value=value,
        incident_ids=[f.id for f in run],
        first_s=run[0].opened_at_s,
        last_s=run[-1].opened_at_s,
        evidence=evidence,
    )
