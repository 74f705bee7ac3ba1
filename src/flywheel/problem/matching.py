"""Known-error matching (pure): which known error an incident shows, following replacements."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flywheel.errors import Conflict
from flywheel.problem.signatures import IncidentFacts, normalise, signature


@dataclass(frozen=True)
class Pattern:
    """How to recognise one known error; unset fields match anything."""

    id: int
    service: str | None = None
    ci: str | None = None
    signature: str | None = None
    text: str | None = None

    @property
    def specificity(self) -> int:
        """How many fields it checks: a narrower pattern wins a tie."""
        return sum(bool(v) for v in (self.service, self.ci, self.signature, self.text))


def matches(pattern: Pattern, facts: IncidentFacts) -> bool:
    """Whether every field the pattern sets agrees with the incident."""
    if pattern.service and pattern.service != facts.service:
        return False
    if pattern.ci and pattern.ci != facts.ci:
        return False
    if pattern.signature and pattern.signature != signature(facts):
        return False
    return not pattern.text or normalise(pattern.text) in normalise(facts.title)


def best_match(patterns: Iterable[Pattern], facts: IncidentFacts) -> Pattern | None:
    """The most specific matching pattern (the oldest among equals)."""
    found = [p for p in patterns if matches(p, facts)]
    return min(found, key=lambda p: (-p.specificity, p.id)) if found else None


def follow(start: int, replaced_by: Mapping[int, int | None]) -> list[int]:
    """The chain start → its replacement → … ; Conflict when it loops."""
    chain = [start]
    while (nxt := replaced_by.get(chain[-1])) is not None:
        if nxt in chain:
            loop = " → ".join(f"KE{k:07d}" for k in [*chain[chain.index(nxt) :], nxt])
            raise Conflict(f"known errors replace each other in a circle: {loop}")
        chain.append(nxt)
    return chain
