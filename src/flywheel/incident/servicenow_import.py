"""Loading a ServiceNow incident export into the incident tables, in bulk and idempotently.

Incidents are keyed by their ServiceNow number (`source='servicenow'`, `external_id`).
Each stores a digest of its rows: an incident whose rows did not change is left alone,
one whose rows changed is rewritten (fields, timeline, references), a new one is added.
Work is committed in chunks, each with one audit event, so an interrupted import is
simply run again.
"""

from __future__ import annotations

import csv
import gzip
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.db import Database, utcnow
from flywheel.errors import InvalidInput
from flywheel.incident import servicenow
from flywheel.incident.bulk import BulkInsert
from flywheel.incident.directory import directory_for
from flywheel.incident.models import Incident, IncidentEvent, IncidentLink
from flywheel.incident.servicenow import Reading, SnIncident
from flywheel.incident.snreport import summarize

SOURCE = "servicenow"
REQUIRED = ("number", "incident_state", "sys_updated_at", "opened_at", "priority")


@dataclass
class Written:
    """What an import changed in the database."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    events: int = 0
    references: int = 0
    chunks: int = 0
    numbers: list[str] = field(default_factory=list)


def records(path: Path) -> Iterator[dict[str, str]]:
    """The rows of a CSV export, gzip-compressed or not; InvalidInput if it is not one."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as raw:
            reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise InvalidInput(f"{path} is not a ServiceNow incident export: no {missing}")
            yield from reader
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc


def import_export(
    db: Database,
    *,
    path: Path,
    actor: Actor,
    chunk_size: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Import an export; the report of what the data holds and what was written."""
    began = time.perf_counter()
    reading = servicenow.read(records(path))
    with db.session() as session:
        existing = _existing(session)
        services = _services(session, reading)
    written = Written()
    total = len(reading.incidents)
    for start in range(0, total, chunk_size):
        chunk = reading.incidents[start : start + chunk_size]
        with db.session(write=True) as session:
            _store(session, chunk, existing, services, actor, written)
            if written.numbers:
                _audit(session, actor, path, written)
            session.commit()
        written.numbers.clear()
        if progress is not None:
            progress(min(start + chunk_size, total), total)
    return report(reading, written, seconds=time.perf_counter() - began)


def report(reading: Reading, written: Written, *, seconds: float) -> dict[str, Any]:
    """What an import found and did, for `--json`."""
    return {
        "rows": reading.rows,
        "incidents": len(reading.incidents),
        "events": sum(len(i.events) for i in reading.incidents),
        "created": written.created,
        "updated": written.updated,
        "unchanged": written.unchanged,
        "events_written": written.events,
        "references_written": written.references,
        **summarize(reading),
        "seconds": round(seconds, 2),
    }


def _existing(session: Session) -> dict[str, tuple[int, str]]:
    query = select(Incident.external_id, Incident.id, Incident.details).where(
        Incident.source == SOURCE
    )
    return {
        str(number): (incident_id, str((details or {}).get("import_digest", "")))
        for number, incident_id, details in session.execute(query)
    }


def _services(session: Session, reading: Reading) -> dict[str, tuple[str, str | None]]:
    """ServiceNow CI text → (CMDB key, its business service) for the CIs the CMDB knows."""
    texts = {i.fields["ci_text"] for i in reading.incidents if i.fields["ci_text"]}
    known = directory_for(session, 0).lookup(session, texts) if texts else {}
    return {key: (info.key, info.service) for key, info in known.items()}


def _store(
    session: Session,
    chunk: list[SnIncident],
    existing: dict[str, tuple[int, str]],
    services: dict[str, tuple[str, str | None]],
    actor: Actor,
    written: Written,
) -> None:
    new = [i for i in chunk if i.number not in existing]
    changed = [i for i in chunk if i.number in existing and existing[i.number][1] != i.digest]
    written.unchanged += len(chunk) - len(new) - len(changed)
    now = utcnow()
    _INSERT_INCIDENTS.execute(session, [_row(i, services, now) for i in new])
    ids = _ids(session, [i.number for i in new])
    ids.update({i.number: existing[i.number][0] for i in changed})
    if changed:
        _rewrite(session, changed, ids, services, now)
    rewritten = new + changed
    events = [_event(ids[i.number], e) for i in rewritten for e in i.events]
    links = [
        {
            "incident_id": ids[i.number],
            "kind": kind,
            "ref": ref,
            "note": "",
            "created_at": now,
            "created_by": actor.name,
        }
        for i in rewritten
        for kind, ref in i.references
    ]
    _INSERT_EVENTS.execute(session, events)
    _INSERT_LINKS.execute(session, links)
    written.created += len(new)
    written.updated += len(changed)
    written.events += len(events)
    written.references += len(links)
    written.numbers.extend(i.number for i in rewritten)
    for number in (i.number for i in rewritten):
        existing[number] = (ids[number], "")


def _ids(session: Session, numbers: list[str]) -> dict[str, int]:
    if not numbers:
        return {}
    query = select(Incident.external_id, Incident.id).where(
        Incident.source == SOURCE, Incident.external_id.in_(numbers)
    )
    return {str(number): incident_id for number, incident_id in session.execute(query)}


def _rewrite(
    session: Session,
    changed: list[SnIncident],
    ids: dict[str, int],
    services: dict[str, tuple[str, str | None]],
    now: Any,
) -> None:
    """Replace what an earlier import stored for incidents whose rows changed."""
    targets = [ids[i.number] for i in changed]
    session.execute(
        delete(IncidentEvent).where(
            IncidentEvent.incident_id.in_(targets), IncidentEvent.kind.startswith("servicenow.")
        )
    )
    session.execute(
        delete(IncidentLink).where(
            IncidentLink.incident_id.in_(targets), IncidentLink.kind.startswith("servicenow.")
        )
    )
    for incident in changed:
        values = _row(incident, services, now)
        for kept in ("source", "external_id", "created_at", "version"):
            values.pop(kept)
        statement = (
            update(Incident)
            .where(Incident.id == ids[incident.number])
            .values(**values, version=Incident.version + 1)
        )
        session.execute(statement.execution_options(synchronize_session=False))


def _row(
    incident: SnIncident, services: dict[str, tuple[str, str | None]], now: Any
) -> dict[str, Any]:
    fields = incident.fields
    mapped = services.get(fields["ci_text"] or "")
    service = (mapped[1] if mapped else None) or fields["category"] or SOURCE
    details = {**fields["details"], "import_digest": incident.digest}
    return {
        "title": fields["title"][:300],
        "state": fields["state"],
        "priority": fields["priority"],
        "urgency": fields["urgency"],
        "impact_level": fields["impact_level"],
        "impact": None,
        "service": service[:200],
        "service_known": bool(mapped and mapped[1]),
        "ci_keys": [mapped[0]] if mapped else [],
        "opened_at": fields["opened_at"],
        "acknowledged_at": fields["acknowledged_at"],
        "acknowledged_by": fields["acknowledged_by"],
        "resolved_at": fields["resolved_at"],
        "resolved_by": fields["resolved_by"],
        "reopen_count": fields["reopen_count"],
        "flapping": False,
        "alert_count": 0,
        "firing_count": 0,
        "source": SOURCE,
        "external_id": incident.number,
        "category": fields["category"],
        "assignment_group": fields["assignment_group"],
        "ci_text": fields["ci_text"],
        "sla_met": fields["sla_met"],
        "details": details,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def _event(incident_id: int, event: servicenow.Event) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "at": event.at,
        "kind": event.kind,
        "actor": event.actor[:100],
        "summary": event.summary,
        "data": event.data,
    }


def _audit(session: Session, actor: Actor, path: Path, written: Written) -> None:
    audit.record(
        session,
        actor=actor,
        action="incident.import",
        object_type="incident_import",
        object_id=f"servicenow:{path.name}",
        after={
            "incidents": len(written.numbers),
            "first": written.numbers[0],
            "last": written.numbers[-1],
            "created_so_far": written.created,
            "updated_so_far": written.updated,
        },
    )


_INSERT_INCIDENTS = BulkInsert(
    "incidents",
    {
        "title": "text",
        "state": "text",
        "priority": "integer",
        "urgency": "integer",
        "impact_level": "integer",
        "impact": "jsonb",
        "service": "text",
        "service_known": "boolean",
        "ci_keys": "jsonb",
        "opened_at": "timestamptz",
        "acknowledged_at": "timestamptz",
        "acknowledged_by": "text",
        "resolved_at": "timestamptz",
        "resolved_by": "text",
        "reopen_count": "integer",
        "flapping": "boolean",
        "alert_count": "integer",
        "firing_count": "integer",
        "source": "text",
        "external_id": "text",
        "category": "text",
        "assignment_group": "text",
        "ci_text": "text",
        "sla_met": "boolean",
        "details": "jsonb",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
        "version": "integer",
    },
)
_INSERT_EVENTS = BulkInsert(
    "incident_events",
    {
        "incident_id": "integer",
        "at": "timestamptz",
        "kind": "text",
        "actor": "text",
        "summary": "text",
        "data": "jsonb",
    },
)
_INSERT_LINKS = BulkInsert(
    "incident_links",
    {
        "incident_id": "integer",
        "kind": "text",
        "ref": "text",
        "note": "text",
        "created_at": "timestamptz",
        "created_by": "text",
    },
)
