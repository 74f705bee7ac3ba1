"""The SQL of alert intake: few statements per batch, each with a fixed shape.

Lists travel as one parameter (a PostgreSQL array, a JSON array read with SQLite's
`json_each`), so a statement's text does not depend on the batch and is prepared once.
Batches of rows go through `bulk.BulkInsert`.
Locks are taken in one order everywhere — service heads (sorted), then incidents (by
id), then alerts — so concurrent batches queue rather than deadlock. On SQLite the
writer already holds the database lock (BEGIN IMMEDIATE) and row locks are moot.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, TextClause, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from flywheel.incident.bulk import BulkInsert
from flywheel.incident.grouping import Group, IncidentState, StoredAlert
from flywheel.incident.incoming import AlertStatus
from flywheel.incident.models import Alert, Incident, IncidentEvent, IncidentHead

ALERTS = cast(Table, Alert.__table__)
INCIDENTS = cast(Table, Incident.__table__)
HEADS = cast(Table, IncidentHead.__table__)
EVENTS = cast(Table, IncidentEvent.__table__)

# A list parameter as a table with one column, `value`.
_LIST = {
    "postgresql": "unnest(CAST(:{name} AS text[])) AS value",
    "sqlite": "json_each(:{name})",
}
_LOCK_HEADS = """
INSERT INTO incident_heads (service)
SELECT value FROM {services} WHERE true ORDER BY value
ON CONFLICT (service) DO UPDATE SET service = excluded.service
RETURNING service, incident_id
"""
# `= ANY(array)` on PostgreSQL: an index scan whatever plan psycopg's prepared statement
# keeps (a join with unnest() kept a nested loop over a seq scan once the table grew).
_STORED = {
    "postgresql": """
SELECT id, fingerprint, status, incident_id, flips, flip_window_start, digest
FROM alerts WHERE source = :source AND fingerprint = ANY(CAST(:fps AS text[]))
""",
    "sqlite": """
SELECT id, fingerprint, status, incident_id, flips, flip_window_start, digest
FROM alerts WHERE source = :source AND fingerprint IN (SELECT value FROM json_each(:fps))
""",
}
# Re-sends of unchanged alerts: one statement for the whole batch.
_TOUCH = {
    "postgresql": """
UPDATE alerts SET last_seen = :seen, received = alerts.received + v.n
FROM unnest(CAST(:ids AS bigint[]), CAST(:counts AS integer[])) AS v(id, n)
WHERE alerts.id = v.id
""",
    "sqlite": """
UPDATE alerts SET last_seen = :seen, received = alerts.received + v.n
FROM (
    SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS n
    FROM json_each(:pairs)
) AS v
WHERE alerts.id = v.id
""",
}


class IntakeStore:
    """The intake statements on one session's connection."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def _list(self, name: str, values: list[str]) -> tuple[str, Any]:
        if self.dialect == "postgresql":
            return _LIST["postgresql"].format(name=name), values
        return _LIST["sqlite"].format(name=name), json.dumps(values)

    def _text(self, template: str, **lists: list[str]) -> tuple[TextClause, dict[str, Any]]:
        shown, params = {}, {}
        for name, values in lists.items():
            shown[name], params[name] = self._list(name, values)
        return text(template.format(**shown)), params

    def lock_heads(self, services: list[str]) -> dict[str, int | None]:
        """Each service's head row, created if new, locked until commit: {service: incident id}."""
        if not services:
            return {}
        statement, params = self._text(_LOCK_HEADS, services=sorted(set(services)))
        rows = self.session.execute(statement, params)
        return {str(service): incident_id for service, incident_id in rows}

    def stored_alerts(self, source: str, fingerprints: list[str]) -> dict[str, StoredAlert]:
        """What is stored about these fingerprints of the source."""
        fps: Any = fingerprints if self.dialect == "postgresql" else json.dumps(fingerprints)
        typed = text(_STORED[self.dialect]).columns(
            ALERTS.c.id,
            ALERTS.c.fingerprint,
            ALERTS.c.status,
            ALERTS.c.incident_id,
            ALERTS.c.flips,
            ALERTS.c.flip_window_start,
            ALERTS.c.digest,
        )
        rows = self.session.execute(typed, {"source": source, "fps": fps})
        return {
            fp: StoredAlert(_STATUS[status], incident_id, flips, window, alert_id, digest)
            for alert_id, fp, status, incident_id, flips, window, digest in rows
        }

    def load_groups(self, ids: set[int]) -> dict[int, Group]:
        """The incidents with these ids, locked until commit."""
        if not ids:
            return {}
        query = (
            select(*(INCIDENTS.c[name] for name in _GROUP_COLUMNS))
            .where(INCIDENTS.c.id.in_(bindparam("ids", expanding=True)))
            .order_by(INCIDENTS.c.id)
            # NO KEY UPDATE: rows that reference an incident (events, alerts) go on being added
            .with_for_update(key_share=True)
        )
        rows = self.session.execute(query, {"ids": sorted(ids)})
        return {row.id: _group_of(row._mapping) for row in rows}

    def insert_incident(self, row: dict[str, Any]) -> int:
        """A new incident's id."""
        statement = insert(INCIDENTS).returning(INCIDENTS.c.id)
        return int(self.session.execute(statement, [row]).scalar_one())

    def point_heads(self, heads: dict[str, int]) -> None:
        """Make these incidents their services' newest."""
        if heads:
            rows = [{"b_service": s, "b_incident": i} for s, i in heads.items()]
            self.session.execute(_POINT_HEAD, rows)

    def update_incidents(self, rows: list[dict[str, Any]]) -> None:
        """Apply what a batch changed to existing incidents (see `_UPDATE_INCIDENT`)."""
        if rows:
            self.session.execute(_UPDATE_INCIDENT, rows)

    def set_impact(self, incident_id: int, impact: dict[str, Any]) -> None:
        """Store what the incident's impact is now."""
        statement = update(INCIDENTS).where(INCIDENTS.c.id == incident_id).values(impact=impact)
        self.session.execute(statement)

    def upsert_alerts(self, rows: list[dict[str, Any]]) -> None:
        """Insert new alerts and rewrite changed ones: one statement, one JSON parameter."""
        if rows:
            ordered = sorted(rows, key=lambda r: (r["fingerprint"], r["source"]))
            _UPSERT_ALERTS.execute(self.session, ordered)

    def touch_alerts(self, seen: datetime, counts: dict[int, int]) -> None:
        """Count re-sends of unchanged alerts (id → times): last seen and times received."""
        if not counts:
            return
        statement = text(_TOUCH[self.dialect]).bindparams(
            bindparam("seen", type_=ALERTS.c.last_seen.type)
        )
        params: dict[str, Any]
        if self.dialect == "postgresql":
            params = {"ids": list(counts), "counts": list(counts.values())}
        else:
            params = {"pairs": json.dumps(list(counts.items()))}
        self.session.execute(statement, {"seen": seen, **params})

    def add_timeline(self, rows: list[dict[str, Any]]) -> None:
        """Append timeline entries: one statement, one JSON parameter."""
        if rows:
            _ADD_EVENTS.execute(self.session, rows)


_STATUS = {s.value: s for s in AlertStatus}
_GROUP_COLUMNS = (
    "id",
    "service",
    "state",
    "title",
    "opened_at",
    "last_alert_at",
    "resolved_at",
    "resolved_by",
    "flapping",
    "firing_count",
    "last_fingerprint",
    "urgency",
    "ci_keys",
    "service_known",
    "priority",
    "impact_level",
)


def _group_of(row: Any) -> Group:
    return Group(
        ref=row["id"],
        service=row["service"],
        state=IncidentState(row["state"]),
        title=row["title"],
        opened_at=row["opened_at"],
        last_alert_at=row["last_alert_at"],
        resolved_at=row["resolved_at"],
        flapping=row["flapping"],
        firing_count=row["firing_count"],
        last_fingerprint=row["last_fingerprint"],
        urgency=row["urgency"],
        ci_keys=list(row["ci_keys"]),
        service_known=row["service_known"],
        resolved_by=row["resolved_by"],
        priority=row["priority"],
        impact_level=row["impact_level"],
    )


_POINT_HEAD = (
    update(HEADS)
    .where(HEADS.c.service == bindparam("b_service"))
    .values(incident_id=bindparam("b_incident"))
)
# Counts move by deltas (the row is locked, but deltas stay right even if it were not).
_UPDATE_INCIDENT = (
    update(INCIDENTS)
    .where(INCIDENTS.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        resolved_at=bindparam("b_resolved_at", type_=INCIDENTS.c.resolved_at.type),
        resolved_by=bindparam("b_resolved_by"),
        flapping=bindparam("b_flapping"),
        priority=bindparam("b_priority"),
        impact_level=bindparam("b_impact_level"),
        urgency=bindparam("b_urgency"),
        ci_keys=bindparam("b_ci_keys", type_=INCIDENTS.c.ci_keys.type),
        last_alert_at=bindparam("b_last_alert_at", type_=INCIDENTS.c.last_alert_at.type),
        last_fingerprint=bindparam("b_last_fingerprint"),
        alert_count=INCIDENTS.c.alert_count + bindparam("b_added"),
        firing_count=INCIDENTS.c.firing_count + bindparam("b_firing"),
        reopen_count=INCIDENTS.c.reopen_count + bindparam("b_reopened"),
        version=INCIDENTS.c.version + bindparam("b_bump"),
        updated_at=bindparam("b_now", type_=INCIDENTS.c.updated_at.type),
    )
)


_ALERT_COLUMNS = {
    "source": "text",
    "fingerprint": "text",
    "status": "text",
    "alertname": "text",
    "severity": "text",
    "summary": "text",
    "labels": "jsonb",
    "annotations": "jsonb",
    "ci_key": "text",
    "ci_unknown": "boolean",
    "group_key": "text",
    "flags": "jsonb",
    "generator_url": "text",
    "starts_at": "timestamptz",
    "ends_at": "timestamptz",
    "first_seen": "timestamptz",
    "last_seen": "timestamptz",
    "received": "integer",
    "flips": "integer",
    "flip_window_start": "timestamptz",
    "digest": "text",
    "incident_id": "integer",
}
_KEPT_ON_CONFLICT = {"source", "fingerprint", "first_seen", "received"}
_UPSERT_ALERTS = BulkInsert(
    "alerts",
    _ALERT_COLUMNS,
    "ON CONFLICT (fingerprint, source) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ALERT_COLUMNS if c not in _KEPT_ON_CONFLICT)
    + ", received = alerts.received + excluded.received",
)
_ADD_EVENTS = BulkInsert(
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
