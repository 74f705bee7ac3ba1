"""Importing a ServiceNow export into the database: bulk, idempotent, audited per chunk."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flywheel.audit.models import AuditEvent
from flywheel.auth.roles import Role
from flywheel.db import Database
from flywheel.incident.models import Incident, IncidentEvent, IncidentLink
from flywheel.incident.servicenow_import import import_export
from tests.factories import SYSTEM, make_ci, make_person, sn_row, write_sn_export


def _export(path: Path, *, extra: dict[str, str] | None = None) -> Path:
    rows = []
    for n in range(1, 6):
        number = f"INC{n:07d}"
        ci = {"cmdb_ci": "db1"} if n == 1 else {}
        rows += [
            sn_row(number, "New", "1/3/2016 09:05", 0, **ci),
            sn_row(number, "Active", "1/3/2016 10:00", 1, **ci, **(extra or {})),
            sn_row(number, "Resolved", "1/3/2016 12:00", 2, resolved_at="1/3/2016 12:00", **ci),
            sn_row(number, "Closed", "6/3/2016 12:00", 3, resolved_at="1/3/2016 12:00", **ci),
        ]
    rows.append(sn_row("INC0000009", "-100", "1/3/2016 09:00"))
    return write_sn_export(path, rows)


def _count(db: Database, model: type[object]) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_import_is_bulk_idempotent_and_audited_per_chunk(db: Database, tmp_path: Path) -> None:
    path = _export(tmp_path / "export.csv.gz")
    first = import_export(db, path=path, actor=SYSTEM, chunk_size=2)
    assert (first["incidents"], first["created"], first["events"]) == (5, 5, 20)
    assert first["skipped_rows"]["by_reason"] == {"unknown incident_state '-100'": 1}
    assert first["sla_met_fraction"] == 1.0
    assert first["mttr_hours_by_priority"] == {"P3": 3.0}
    assert (_count(db, Incident), _count(db, IncidentEvent)) == (5, 20)
    again = import_export(db, path=path, actor=SYSTEM, chunk_size=2)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 5)
    assert (_count(db, Incident), _count(db, IncidentEvent)) == (5, 20)
    with db.session() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "incident.import")
        ).all()
    assert len(actions) == 3  # chunks of 2, 2 and 1 incidents, the re-import added none


def test_changed_rows_rewrite_the_incident(db: Database, tmp_path: Path) -> None:
    import_export(db, path=_export(tmp_path / "a.csv.gz"), actor=SYSTEM)
    changed = _export(tmp_path / "b.csv.gz", extra={"assignment_group": "Group 9"})
    result = import_export(db, path=changed, actor=SYSTEM)
    assert (result["created"], result["updated"]) == (0, 5)
    assert _count(db, Incident) == 5
    assert _count(db, IncidentEvent) == 20  # replaced, not added
    with db.session() as session:
        versions = set(session.scalars(select(Incident.version)))
        summaries = session.scalars(
            select(IncidentEvent.summary).where(IncidentEvent.kind == "servicenow.state")
        ).all()
    assert versions == {2}
    assert sum("Group 1 → Group 9" in s for s in summaries) == 5


def test_cis_known_to_the_cmdb_are_mapped(db: Database, tmp_path: Path, client: TestClient) -> None:
    with db.session(write=True) as session:
        make_ci(session, "shop", "business_service")
        make_ci(session, "db1", "database")
        from tests.factories import relate

        relate(session, "shop", "depends_on", "db1")
        session.commit()
    import_export(db, path=_export(tmp_path / "a.csv.gz"), actor=SYSTEM)
    reader = make_person(db, Role.AUDITOR)
    listed = client.get("/api/v1/incidents?order=oldest", headers=reader.headers).json()["items"]
    first = listed[0]
    assert (first["external_id"], first["ci_keys"], first["service"]) == (
        "INC0000001",
        ["db1"],
        "shop",
    )
    assert (listed[1]["ci_keys"], listed[1]["service"]) == ([], "Category 7")
    detail = client.get(f"/api/v1/incidents/{first['id']}", headers=reader.headers).json()
    assert [e["kind"] for e in detail["timeline"]] == [
        "servicenow.opened",
        "servicenow.state",
        "servicenow.state",
        "servicenow.state",
    ]
    metrics = client.get("/api/v1/incidents/metrics", headers=reader.headers).json()
    assert metrics["overall"]["incidents"] == 5
    assert metrics["overall"]["mttr_seconds"] == 3 * 3600
    assert _count(db, IncidentLink) == 0


def test_a_file_that_is_not_an_export_is_refused(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    import pytest

    from flywheel.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not a ServiceNow incident export"):
        import_export(db, path=path, actor=SYSTEM)
    assert _count(db, Incident) == 0
