"""Arranging an incident for its page: filters, impact, responders, the actions open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flywheel.web import incident_view

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@dataclass
class Event:
    kind: str
    actor: str
    at: datetime
    summary: str = ""
    data: dict[str, Any] | None = None


@pytest.mark.parametrize(("text", "expected"), [("P1", 1), ("p3", 3), ("4", 4), ("", None)])
def test_priorities_are_read_as_people_write_them(text: str, expected: int | None) -> None:
    assert incident_view.parse_priority(text) == expected


@pytest.mark.parametrize("text", ["P0", "P5", "high", "1.5"])
def test_bad_priorities_name_the_choices(text: str) -> None:
    with pytest.raises(ValueError, match="must be P1, P2, P3 or P4"):
        incident_view.parse_priority(text)


def test_states_are_checked() -> None:
    assert incident_view.check_state("open") == "open"
    assert incident_view.check_state("") is None
    with pytest.raises(ValueError, match="choose one of open, triggered"):
        incident_view.check_state("closed")


def test_stored_impact_is_read_and_missing_impact_is_none() -> None:
    stored = {
        "known": True,
        "level": "high",
        "summary": "checkout down",
        "services": [{"key": "checkout", "status": "down", "criticality": 1}],
        "tenants_affected": 1200,
        "top_tenants": ["acme"],
    }
    impact = incident_view.impact_of(stored)
    assert impact is not None
    assert impact.services == [incident_view.ServiceImpact("checkout", "down", 1)]
    assert (impact.level, impact.tenants_affected, impact.top_tenants) == ("high", 1200, ["acme"])
    assert incident_view.impact_of(None) is None
    unknown = incident_view.impact_of({"summary": "no known configuration item", "known": False})
    assert unknown is not None and not unknown.known


def test_responders_are_people_in_the_order_they_joined() -> None:
    events = [
        Event("opened", "integration:am", T0),
        Event("alert.firing", "integration:am", T0),
        Event("notification.sent", "system:escalation", T0, data={"user": "otto"}),
        Event("escalation.exhausted", "system:escalation", T0),  # nobody paged: no responder
        Event("escalation.nobody", "system:escalation", T0),
        Event("acknowledged", "dana", T0 + timedelta(minutes=3), "acknowledged by dana"),
        Event("note", "dana", T0 + timedelta(minutes=4)),
        Event("rollback", "otto", T0 + timedelta(minutes=6)),
    ]
    found = incident_view.responders(events)
    assert [(r.name, r.actions) for r in found] == [
        ("otto", ["notification sent", "rollback"]),
        ("dana", ["acknowledged", "note"]),
    ]
    assert found[0].first_at == T0
    assert [a.summary for a in incident_view.acknowledgements(events)] == ["acknowledged by dana"]


def test_actions_follow_the_state_and_the_permission() -> None:
    assert incident_view.actions_open("triggered", can_respond=True) == ["acknowledge", "resolve"]
    assert incident_view.actions_open("acknowledged", can_respond=True) == ["resolve"]
    assert incident_view.actions_open("resolved", can_respond=True) == ["reopen"]
    assert incident_view.actions_open("triggered", can_respond=False) == []


def test_only_runs_that_can_be_undone_get_a_rollback_button() -> None:
    assert incident_view.can_roll_back("succeeded", permitted=True)
    assert incident_view.can_roll_back("running", permitted=True)
    assert not incident_view.can_roll_back("rolled_back", permitted=True)
    assert not incident_view.can_roll_back("aborted", permitted=True)
    assert not incident_view.can_roll_back("succeeded", permitted=False)
