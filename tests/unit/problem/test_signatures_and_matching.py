"""Signatures, suggestion grouping and known-error matching (pure)."""

from __future__ import annotations

import pytest

from flywheel.errors import Conflict
from flywheel.problem.matching import Pattern, best_match, follow, matches
from flywheel.problem.signatures import IncidentFacts, normalise, signature
from flywheel.problem.suggest import Rules, suggest

DAY = 86400.0


def facts(i: int, at_days: float, **kw: str) -> IncidentFacts:
    base = {"service": "shop", "title": f"DiskFull on db{i}"}
    return IncidentFacts(id=i, opened_at_s=at_days * DAY, **{**base, **kw})  # type: ignore[arg-type]


def test_normalise_drops_numbers_ids_and_addresses() -> None:
    one = normalise("Timeout after 3000ms talking to 10.0.0.7:5432 req=9f8e7d6c5b4a3f2e1d0c")
    two = normalise("timeout after 120ms talking to 10.1.2.3:6543 req=0a1b2c3d4e5f60718293")
    assert one == two == "timeout after <n>ms talking to <ip> req <hex>"


def test_classification_keeps_its_codes_apart() -> None:
    a = facts(1, 0, category="Category 26", subcategory="Subcategory 174", symptom="Symptom 491")
    b = facts(2, 0, category="Category 26", subcategory="Subcategory 174", symptom="Symptom 492")
    assert signature(a) != signature(b)
    assert signature(a) == "class:category 26 / subcategory 174 / symptom 491"


def test_alert_signature_ignores_the_instance() -> None:
    a = facts(1, 0, alertname="HighLatency")
    b = facts(2, 0, alertname="HighLatency", title="HighLatency on other")
    assert signature(a) == signature(b) == "alert:shop:highlatency"


def test_suggest_groups_recurrences_within_the_period_only() -> None:
    rows = [facts(i, d, alertname="DiskFull") for i, d in [(1, 0), (2, 3), (3, 5), (4, 40)]]
    found = suggest(rows, Rules(period_s=7 * DAY, min_incidents=3, by_ci=False))
    assert [s.incident_ids for s in found] == [[1, 2, 3]]
    assert "3 incidents with the same signature" in str(found[0].evidence["why"])


def test_suggest_skips_incidents_already_in_a_problem_and_groups_by_ci() -> None:
    rows = [facts(i, i, ci="db-7", title=f"different {chr(96 + i)}") for i in range(1, 5)]
    found = suggest(rows, Rules(period_s=2 * DAY, min_incidents=3), exclude={1})
    assert [(s.basis, s.incident_ids) for s in found] == [("ci", [2, 3, 4])]


def test_suggestion_key_is_stable() -> None:
    rows = [facts(i, i, alertname="X") for i in range(1, 4)]
    first = suggest(rows, Rules(min_incidents=3))[0].key
    assert first == suggest(rows, Rules(min_incidents=3))[0].key


def test_the_most_specific_known_error_wins() -> None:
    incident = facts(1, 0, ci="db-7", title="DiskFull on db-7: /var/lib at 99%")
    broad = Pattern(1, service="shop", text="diskfull")
    narrow = Pattern(2, service="shop", ci="db-7", text="DiskFull")
    other = Pattern(3, ci="db-8")
    assert matches(broad, incident) and not matches(other, incident)
    assert best_match([broad, narrow, other], incident) == narrow


def test_following_replacements_stops_at_a_circle() -> None:
    assert follow(1, {1: 2, 2: 3, 3: None}) == [1, 2, 3]
    with pytest.raises(Conflict, match="circle: KE0000002 → KE0000003 → KE0000002"):
        follow(1, {1: 2, 2: 3, 3: 2})


def test_a_partial_classification_still_keeps_its_codes() -> None:
    a = facts(1, 0, category="Category 26", subcategory="Subcategory 174")
    b = facts(2, 0, category="Category 27", subcategory="Subcategory 174")
    assert signature(a) == "class:category 26 / subcategory 174" != signature(b)
    assert signature(facts(3, 0, category="Category 26")).startswith("text:")
