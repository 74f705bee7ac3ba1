"""Reading a ServiceNow incident export (one row per update) into incidents (pure).

The export is the `incident` table's audit log: every row repeats the incident's fields
as they were after one update. Rows are grouped by `number` and ordered by their update
time (`sys_updated_at`, then `sys_mod_count`, then file order — the counters are not
always in time order). Dates are day-first (`29/2/2016 01:16`), taken as UTC; a missing
value is `?`.

What becomes of them:
- the incident's fields are those of its last update; `opened_at` is its own column;
- `acknowledged_at` is the first update that left state New (the responder's first move);
- `resolved_at` is the `resolved_at` column, else the last move into Resolved;
- a timeline event for the first row and for every update that changed the state,
  priority, assignment group or category (other updates are counted, not kept);
- rows that cannot be read (no number, an unreadable update time, an unknown state) are
  skipped with the reason.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flywheel.incident.grouping import IncidentState

MISSING = "?"
STATES = {
    "New": IncidentState.TRIGGERED,
    "Active": IncidentState.ACKNOWLEDGED,
    "Awaiting User Info": IncidentState.ACKNOWLEDGED,
    "Awaiting Vendor": IncidentState.ACKNOWLEDGED,
    "Awaiting Problem": IncidentState.ACKNOWLEDGED,
    "Awaiting Evidence": IncidentState.ACKNOWLEDGED,
    "Resolved": IncidentState.RESOLVED,
    "Closed": IncidentState.RESOLVED,
}
TRACKED = ("incident_state", "priority", "assignment_group", "category")
DETAIL_COLUMNS = (
    "caller_id",
    "opened_by",
    "contact_type",
    "location",
    "subcategory",
    "u_symptom",
    "impact",
    "urgency",
    "assigned_to",
    "knowledge",
    "u_priority_confirmation",
    "notify",
    "vendor",
    "closed_code",
    "reassignment_count",
    "sys_mod_count",
    "closed_at",
)
REFERENCES = {"problem_id": "servicenow.problem", "rfc": "servicenow.change"}
REFERENCES_CAUSE = {"caused_by": "servicenow.caused_by"}
_times: dict[str, datetime] = {}


def parse_time(text: str) -> datetime | None:
    """A day-first `d/m/yyyy hh:mm` time in UTC; None for `?`; ValueError otherwise."""
    if text == MISSING or not text:
        return None
    found = _times.get(text)
    if found is None:
        try:
            day_part, _, clock = text.partition(" ")
            day, month, year = day_part.split("/")
            hour, minute = clock.split(":")
            found = datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=UTC)
        except ValueError as exc:
            raise ValueError(f"'{text}' is not a day-first d/m/yyyy hh:mm time") from exc
        if len(_times) < 500_000:
            _times[text] = found
    return found


def level(text: str) -> int | None:
    """1-4 from '3 - Moderate'; None for `?`."""
    head = text.split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def value(text: str) -> str | None:
    """The text, or None for `?`."""
    return None if text == MISSING or text == "" else text


@dataclass(frozen=True)
class Skipped:
    """A row that was not imported, and why."""

    line: int
    number: str
    reason: str


@dataclass
class Event:
    """A timeline event made from one update row."""

    at: datetime
    kind: str
    actor: str
    summary: str
    data: dict[str, Any]


@dataclass
class SnIncident:
    """One ServiceNow incident, ready to store."""

    number: str
    fields: dict[str, Any]
    events: list[Event]
    references: list[tuple[str, str]]
    digest: str
    unchanged_updates: int = 0


@dataclass
class Reading:
    """Everything read from an export."""

    incidents: list[SnIncident] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    rows: int = 0
    oddities: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Row:
    line: int
    at: datetime
    mod: int
    cells: dict[str, str]


def read(records: Iterable[dict[str, str]]) -> Reading:
    """Group an export's rows into incidents."""
    reading = Reading()
    for number, rows in _by_incident(records, reading):
        incident = _incident(number, rows, reading)
        if incident is not None:
            reading.incidents.append(incident)
    return reading


def _by_incident(
    records: Iterable[dict[str, str]], reading: Reading
) -> Iterator[tuple[str, list[_Row]]]:
    grouped: dict[str, list[_Row]] = {}
    previous = None
    for line, cells in enumerate(records, start=2):
        reading.rows += 1
        row = _row(line, cells, reading)
        if row is None:
            continue
        number = cells["number"]
        if number != previous and number in grouped:
            reading.oddities["incident rows not contiguous in the file"] += 1
        grouped.setdefault(number, []).append(row)
        previous = number
    yield from grouped.items()


def _row(line: int, cells: dict[str, str], reading: Reading) -> _Row | None:
    number = (cells.get("number") or "").strip()
    reason = None
    at = None
    if not number or number == MISSING:
        reason = "no incident number"
    elif cells.get("incident_state") not in STATES:
        reason = f"unknown incident_state '{cells.get('incident_state')}'"
    else:
        try:
            at = parse_time(cells.get("sys_updated_at", ""))
            if at is None:
                reason = "no sys_updated_at"
            elif parse_time(cells.get("opened_at", "")) is None:
                reason = "no opened_at"
        except ValueError:
            shown = f"'{cells.get('sys_updated_at')}' / '{cells.get('opened_at')}'"
            reason = f"unreadable sys_updated_at / opened_at {shown}"
    if reason is not None or at is None:
        reading.skipped.append(Skipped(line, number, reason or "unreadable row"))
        return None
    mod = int(cells["sys_mod_count"]) if cells.get("sys_mod_count", "").isdigit() else 0
    return _Row(line, at, mod, cells)


def _incident(number: str, rows: list[_Row], reading: Reading) -> SnIncident | None:
    ordered = sorted(rows, key=lambda r: (r.at, r.mod, r.line))
    if [r.line for r in ordered] != [r.line for r in rows]:
        reading.oddities["updates out of order in the file"] += 1
    opened_at = parse_time(ordered[0].cells["opened_at"])
    assert opened_at is not None  # checked by _row
    if ordered[0].at < opened_at:
        reading.oddities["updated before it was opened"] += 1
    events, unchanged = _events(ordered)
    fields = _fields(ordered, opened_at)
    if fields["resolved_at"] is None:
        reading.oddities["closed without a resolution time"] += 1
    return SnIncident(
        number=number,
        fields=fields,
        events=events,
        references=_references(ordered),
        digest=_digest(ordered),
        unchanged_updates=unchanged,
    )


def _fields(rows: list[_Row], opened_at: datetime) -> dict[str, Any]:
    last = rows[-1].cells
    acknowledged = next((r.at for r in rows if r.cells["incident_state"] != "New"), None)
    resolved_at = parse_time(last["resolved_at"])
    if resolved_at is None:
        moves = [r.at for r in rows if r.cells["incident_state"] == "Resolved"]
        resolved_at = moves[-1] if moves else None
    state = STATES[last["incident_state"]]
    priority = level(last["priority"]) or 4
    return {
        "title": _title(last),
        "state": state.value,
        "priority": priority,
        "urgency": level(last["urgency"]) or 2,
        "impact_level": level(last["impact"]) or 2,
        "opened_at": opened_at,
        "acknowledged_at": acknowledged,
        "acknowledged_by": value(_first_mover(rows)),
        "resolved_at": resolved_at if state is IncidentState.RESOLVED else None,
        "resolved_by": value(last["resolved_by"]),
        "reopen_count": max(int(r.cells["reopen_count"] or 0) for r in rows),
        "category": value(last["category"]),
        "assignment_group": value(last["assignment_group"]),
        "ci_text": value(last["cmdb_ci"]),
        "sla_met": last["made_sla"] == "true",
        "details": {c: value(last.get(c, MISSING)) for c in DETAIL_COLUMNS},
    }


def _first_mover(rows: list[_Row]) -> str:
    moved = next((r for r in rows if r.cells["incident_state"] != "New"), None)
    return moved.cells["sys_updated_by"] if moved else MISSING


def _title(cells: dict[str, str]) -> str:
    parts = [value(cells[c]) for c in ("category", "subcategory", "u_symptom")]
    return ", ".join(p for p in parts if p) or "ServiceNow incident"


def _events(rows: list[_Row]) -> tuple[list[Event], int]:
    events = []
    unchanged = 0
    previous: dict[str, str] | None = None
    for row in rows:
        cells = row.cells
        actor = f"servicenow:{value(cells['sys_updated_by']) or 'unknown'}"
        if previous is None:
            summary = f"opened in ServiceNow as {cells['incident_state']}"
            data = {c: value(cells[c]) for c in TRACKED}
            events.append(Event(row.at, "servicenow.opened", actor, summary, data))
        else:
            changed = {
                c: [value(previous[c]), value(cells[c])] for c in TRACKED if cells[c] != previous[c]
            }
            if changed:
                events.append(_change_event(row, actor, changed))
            else:
                unchanged += 1
        previous = cells
    return events, unchanged


def _change_event(row: _Row, actor: str, changed: dict[str, list[str | None]]) -> Event:
    kind = {
        "incident_state": "servicenow.state",
        "priority": "servicenow.priority",
        "assignment_group": "servicenow.assignment",
        "category": "servicenow.category",
    }[next(iter(changed))]
    summary = "; ".join(f"{name}: {old} → {new}" for name, (old, new) in changed.items())
    data: dict[str, Any] = {"changed": changed, "sys_mod_count": row.mod}
    return Event(row.at, kind, actor, summary, data)


def _references(rows: list[_Row]) -> list[tuple[str, str]]:
    found: dict[tuple[str, str], None] = {}
    for row in rows:
        for column, kind in {**REFERENCES, **REFERENCES_CAUSE}.items():
            ref = value(row.cells.get(column, MISSING))
            if ref is not None:
                found[(kind, " ".join(ref.split()))] = None
    return list(found)


def _digest(rows: list[_Row]) -> str:
    """A hash of the incident's rows as exported: a re-import of the same rows changes nothing."""
    digest = hashlib.blake2b(digest_size=16)
    for row in rows:
        digest.update("\x1f".join(f"{k}={v}" for k, v in row.cells.items()).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()
