"""Incident signatures (pure): the same failure written the same way, whatever the numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERNS = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b"), "<hex>"),
    (re.compile(r"(?:/[\w.-]+){2,}"), "<path>"),
    (re.compile(r"\d+"), "<n>"),
    (re.compile(r"[^\w<>]+"), " "),
]


def normalise(text: str | None) -> str:
    """Lower-case text with ids, addresses, paths and numbers replaced by placeholders."""
    if not text:
        return ""
    out = text.lower()
    for pattern, placeholder in _PATTERNS:
        out = pattern.sub(placeholder, out)
    return " ".join(out.split())


@dataclass(frozen=True)
class IncidentFacts:
    """What a signature is made from, read off one incident."""

    id: int
    opened_at_s: float
    service: str
    title: str
    category: str | None = None
    subcategory: str | None = None
    symptom: str | None = None
    ci: str | None = None
    alertname: str | None = None


def classification(facts: IncidentFacts) -> str | None:
    """'category / subcategory / symptom' (the parts known, at least two) of imported records."""
    parts = [p for p in (facts.category, facts.subcategory, facts.symptom) if p]
    if len(parts) < 2:
        return None
    # Classification values are codes ("Symptom 491"): their numbers are what tells them apart.
    return " / ".join(" ".join(str(p).lower().split()) for p in parts)


def signature(facts: IncidentFacts) -> str:
    """The failure's signature: its classification, else its alert name, else its title."""
    found = classification(facts)
    if found:
        return f"class:{found}"
    if facts.alertname:
        return f"alert:{normalise(facts.service)}:{normalise(facts.alertname)}"
    return f"text:{normalise(facts.service)}:{normalise(facts.title)}"
