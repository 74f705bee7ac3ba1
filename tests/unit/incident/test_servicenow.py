"""Reading a ServiceNow incident export, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flywheel.incident import servicenow
from flywheel.incident.snreport import summarize
from tests.factories import sn_row

OPENED = {"opened_at": "2/3/2016 08:00", "priority": "1 - Critical"}


def _history() -> list[dict[str, str]]:
    """INC1: New → Active (reassigned) → Resolved → Closed; INC2 resolved without the column."""
    return [
        sn_row("INC1", "New", "1/3/2016 09:05", 0, problem_id="Problem ID  7"),
        sn_row("INC1", "Active", "1/3/2016 10:00", 1, sys_updated_by="Updated by 9"),
        sn_row("INC1", "Active", "1/3/2016 11:00", 2, assignment_group="Group 2"),
        sn_row("INC1", "Active", "1/3/2016 11:30", 3, assignment_group="Group 2"),
        sn_row(
            "INC1",
            "Resolved",
            "1/3/2016 13:00",
            4,
            assignment_group="Group 2",
            resolved_at="1/3/2016 12:59",
            rfc="CHG0000132",
        ),
        sn_row(
            "INC1",
            "Closed",
            "6/3/2016 13:00",
            5,
            assignment_group="Group 2",
            made_sla="false",
            resolved_at="1/3/2016 12:59",
        ),
        sn_row("INC2", "New", "2/3/2016 08:00", 0, **OPENED),
        sn_row("INC2", "Resolved", "2/3/2016 10:00", 1, **OPENED),
        sn_row("INC2", "Closed", "7/3/2016 10:00", 2, **OPENED),
    ]


def test_rows_become_incidents_with_their_state_history() -> None:
    reading = servicenow.read(_history())
    first, second = reading.incidents
    f = first.fields
    assert (first.number, f["state"], f["priority"], f["assignment_group"]) == (
        "INC1",
        "resolved",
        3,
        "Group 2",
    )
    assert f["acknowledged_at"] == datetime(2016, 3, 1, 10, 0, tzinfo=UTC)
    assert f["acknowledged_by"] == "Updated by 9"
    assert f["resolved_at"] == datetime(2016, 3, 1, 12, 59, tzinfo=UTC)
    assert f["sla_met"] is False  # the last update's made_sla
    assert [e.kind for e in first.events] == [
        "servicenow.opened",
        "servicenow.state",
        "servicenow.assignment",
        "servicenow.state",
        "servicenow.state",
    ]
    assert first.unchanged_updates == 1
    assert first.events[2].summary == "assignment_group: Group 1 → Group 2"
    assert first.references == [
        ("servicenow.problem", "Problem ID 7"),
        ("servicenow.change", "CHG0000132"),
    ]
    # No resolved_at column: the move into Resolved is the resolution.
    assert second.fields["resolved_at"] == datetime(2016, 3, 2, 10, 0, tzinfo=UTC)
    assert second.fields["priority"] == 1


def test_unreadable_rows_are_skipped_with_the_reason() -> None:
    rows = [
        *_history(),
        sn_row("INC3", "-100", "3/3/2016 08:00"),
        sn_row("?", "New", "3/3/2016 08:00"),
        sn_row("INC4", "New", "31/2/2016 08:00"),
        sn_row("INC5", "New", "3/3/2016 08:00", opened_at="?"),
    ]
    reading = servicenow.read(rows)
    assert [(s.line, s.reason) for s in reading.skipped] == [
        (11, "unknown incident_state '-100'"),
        (12, "no incident number"),
        (13, "unreadable sys_updated_at / opened_at '31/2/2016 08:00' / '1/3/2016 09:00'"),
        (14, "no opened_at"),
    ]
    assert [i.number for i in reading.incidents] == ["INC1", "INC2"]
    assert reading.rows == 13


def test_updates_are_ordered_by_time_and_oddities_counted() -> None:
    rows = [
        sn_row("INC1", "Active", "1/3/2016 10:00", 2),
        sn_row("INC1", "New", "1/3/2016 08:30", 1),
        sn_row("INC1", "Resolved", "1/3/2016 11:00", 3, resolved_at="1/3/2016 11:00"),
    ]
    reading = servicenow.read(rows)
    (incident,) = reading.incidents
    assert incident.events[0].data["incident_state"] == "New"
    assert incident.fields["acknowledged_at"] == datetime(2016, 3, 1, 10, 0, tzinfo=UTC)
    assert reading.oddities == {
        "updates out of order in the file": 1,
        "updated before it was opened": 1,
    }


def test_the_digest_changes_with_the_rows() -> None:
    before = servicenow.read(_history()).incidents[0].digest
    rows = _history()
    rows[1]["assigned_to"] = "Resolver 4"
    assert servicenow.read(rows).incidents[0].digest != before
    assert servicenow.read(_history()).incidents[0].digest == before


def test_summary_of_sla_resolution_and_reopens() -> None:
    rows = [*_history(), sn_row("INC9", "Closed", "9/3/2016 08:00", reopen_count="1")]
    summary = summarize(servicenow.read(rows))
    assert summary["sla_met_fraction"] == round(2 / 3, 4)
    assert summary["mttr_hours_by_priority"] == {"P1": 2.0, "P3": 3.98}
    assert summary["reopened_fraction"] == round(1 / 3, 4)
    assert summary["never_resolved"] == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [("29/2/2016 01:16", datetime(2016, 2, 29, 1, 16, tzinfo=UTC)), ("?", None)],
)
def test_day_first_times(text: str, expected: datetime | None) -> None:
    assert servicenow.parse_time(text) == expected


def test_other_time_formats_are_errors() -> None:
    with pytest.raises(ValueError, match="day"):
        servicenow.parse_time("2016-02-29 01:16")
