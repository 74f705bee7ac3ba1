"""Importing CIs and relationships in bulk: idempotent upsert by key, all or nothing per batch."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.cmdb.models import CIType, CmdbChange, ConfigurationItem, Relationship
from flywheel.cmdb.schemas import CICreate, ImportBatch, ImportResult, RelationshipCreate
from flywheel.cmdb.validation import check_attributes, check_min_up
from flywheel.cmdb.vocabulary import RelType, check_relationship_ends
from flywheel.db import utcnow
from flywheel.errors import InvalidInput, NotFound, StaleVersion

_CHUNK = 900  # keeps IN lists and multi-row VALUES within every backend's parameter limit
_FIELDS = (
    "name",
    "type",
    "environment",
    "status",
    "criticality",
    "owner_team",
    "min_up",
    "attributes",
)


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be imported, and why."""

    section: str
    index: int
    message: str

    def __str__(self) -> str:
        return f"{self.section}[{self.index}]: {self.message}"


class ImportRejected(InvalidInput):
    """A batch with bad rows; nothing of it was written."""

    def __init__(self, problems: list[RowProblem]) -> None:
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(
            f"import rejected, nothing written: {shown}{more}",
            details=[
                {"section": p.section, "index": p.index, "message": p.message} for p in problems
            ],
        )
        self.problems = problems


@dataclass
class _Existing:
    id: int
    version: int
    summary: dict[str, Any]


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    return {"key": data["key"], **{f: data[f] for f in _FIELDS}}


def _existing_cis(session: Session, keys: list[str]) -> dict[str, _Existing]:
    found: dict[str, _Existing] = {}
    cols = [ConfigurationItem.id, ConfigurationItem.version, ConfigurationItem.key]
    cols += [getattr(ConfigurationItem, f) for f in _FIELDS]
    for chunk in _chunks(keys):
        for row in session.execute(select(*cols).where(ConfigurationItem.key.in_(chunk))):
            data = row._asdict()
            found[row.key] = _Existing(row.id, row.version, _summary(data))
    return found


def _check_cis(session: Session, cis: list[CICreate], problems: list[RowProblem]) -> None:
    types = {t.name: t.attribute_schema for t in session.scalars(select(CIType))}
    teams: dict[str, bool] = {}
    seen: set[str] = set()
    for i, ci in enumerate(cis):
        if ci.key in seen:
            problems.append(RowProblem("cis", i, f"key '{ci.key}' appears twice in the batch"))
        seen.add(ci.key)
        if ci.type not in types:
            problems.append(RowProblem("cis", i, f"unknown CI type '{ci.type}'"))
            continue
        try:
            check_attributes(ci.type, types[ci.type], ci.attributes)
        except InvalidInput as exc:
            problems.append(RowProblem("cis", i, exc.message))
        if ci.owner_team and ci.owner_team not in teams:
            teams[ci.owner_team] = _team_exists(session, ci.owner_team)
        if ci.owner_team and not teams[ci.owner_team]:
            problems.append(RowProblem("cis", i, f"unknown owner_team '{ci.owner_team}'"))


def _team_exists(session: Session, key: str) -> bool:
    try:
        auth_service.get_team(session, key=key)
    except NotFound:
        return False
    return True


def _upsert_cis(
    session: Session, cis: list[CICreate], audit_seq: int, actor: Actor
) -> tuple[int, int, int]:
    rows = [ci.model_dump(mode="json") for ci in cis]
    existing = _existing_cis(session, [r["key"] for r in rows])
    now = utcnow()
    new = [r for r in rows if r["key"] not in existing]
    changed = [
        r for r in rows if r["key"] in existing and _summary(r) != existing[r["key"]].summary
    ]
    for chunk in _chunks(new):
        session.execute(
            insert(ConfigurationItem), [{**r, "created_at": now, "updated_at": now} for r in chunk]
        )
    _update_changed(session, changed, existing, now)
    history = [
        _change(audit_seq, actor, "ci.create", r["key"], None, _summary(r), now) for r in new
    ]
    history += [
        _change(
            audit_seq, actor, "ci.update", r["key"], existing[r["key"]].summary, _summary(r), now
        )
        for r in changed
    ]
    _insert_history(session, history)
    return len(new), len(changed), len(rows) - len(new) - len(changed)


def _update_changed(
    session: Session, rows: list[dict[str, Any]], existing: dict[str, _Existing], now: datetime
) -> None:
    """Update CIs by id, only at the version read (a concurrent writer makes this a 409)."""
    if not rows:
        return
    table = cast(Table, ConfigurationItem.__table__)
    stmt = (
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
        .values(
            {
                **{f: bindparam(f"b_{f}") for f in _FIELDS},
                "version": table.c.version + 1,
                "updated_at": now,
            }
        )
    )
    params = [
        {
            "b_id": existing[r["key"]].id,
            "b_version": existing[r["key"]].version,
            **{f"b_{f}": r[f] for f in _FIELDS},
        }
        for r in rows
    ]
    updated = 0
    for chunk in _chunks(params):
        result = session.execute(stmt, chunk)
        updated += result.rowcount  # type: ignore[attr-defined]
    if session.get_bind().dialect.supports_sane_multi_rowcount and updated != len(rows):
        raise StaleVersion("CIs in this batch were changed by someone else meanwhile: retry")


def _change(
    seq: int,
    actor: Actor,
    op: str,
    key: str,
    before: Any,
    after: Any,
    now: Any,
    other: str | None = None,
) -> dict[str, Any]:
    return {
        "audit_seq": seq,
        "occurred_at": now,
        "actor": actor.name,
        "op": op,
        "ci_key": key,
        "other_key": other,
        "before": before,
        "after": after,
    }


def _insert_history(session: Session, rows: list[dict[str, Any]]) -> None:
    table = cast(Table, CmdbChange.__table__)
    for chunk in _chunks(rows):
        session.execute(insert(table), chunk)  # Core executemany: no ORM bookkeeping


def _ci_index(session: Session, keys: set[str]) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    cols = (ConfigurationItem.key, ConfigurationItem.id, ConfigurationItem.type)
    for chunk in _chunks(sorted(keys)):
        for key, ci_id, ci_type in session.execute(
            select(*cols).where(ConfigurationItem.key.in_(chunk))
        ):
            found[key] = (ci_id, ci_type)
    return found


def _resolve_rels(
    session: Session, rels: list[RelationshipCreate], problems: list[RowProblem]
) -> tuple[list[tuple[int, RelationshipCreate, int, int]], dict[str, tuple[int, str]]]:
    cis = _ci_index(session, {r.source for r in rels} | {r.target for r in rels})
    resolved = []
    for i, rel in enumerate(rels):
        missing = [k for k in (rel.source, rel.target) if k not in cis]
        if missing:
            problems.append(RowProblem("relationships", i, f"no configuration item '{missing[0]}'"))
            continue
        (source, source_type), (target, target_type) = cis[rel.source], cis[rel.target]
        problem = check_relationship_ends(rel.type, source_type, target_type)
        if source == target:
            problem = f"'{rel.source}' cannot be related to itself"
        if problem:
            problems.append(RowProblem("relationships", i, problem))
            continue
        resolved.append((i, rel, source, target))
    return resolved, cis


def _insert_rels(
    session: Session,
    resolved: list[tuple[int, RelationshipCreate, int, int]],
    audit_seq: int,
    actor: Actor,
) -> tuple[int, int]:
    """Insert the links that are not there yet (ON CONFLICT DO NOTHING), with their history.

    One statement per chunk, no lookup of existing links first: that lookup could not use
    an index for a list of (source, type, target) tuples and made big imports quadratic.
    """
    wanted: dict[tuple[int, str, int], RelationshipCreate] = {}
    for _, rel, source, target in resolved:
        wanted.setdefault((source, rel.type.value, target), rel)
    table = cast(Table, Relationship.__table__)
    upsert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        upsert(table)
        .on_conflict_do_nothing(index_elements=["source_id", "type", "target_id"])
        .returning(table.c.id, table.c.source_id, table.c.type, table.c.target_id)
    )
    now = utcnow()
    history = []
    for chunk in _chunks(list(wanted.items())):
        params = [
            {"source_id": s, "type": t, "target_id": d, "optional": rel.optional, "created_at": now}
            for (s, t, d), rel in chunk
        ]
        for rel_id, source, rel_type, target in session.execute(stmt, params):
            rel = wanted[source, rel_type, target]
            after = {
                "id": rel_id,
                "source": rel.source,
                "type": rel_type,
                "target": rel.target,
                "optional": rel.optional,
            }
            history.append(
                _change(audit_seq, actor, "rel.create", rel.source, None, after, now, rel.target)
            )
    _insert_history(session, history)
    return len(history), len(resolved) - len(history)


def _check_pools(
    session: Session,
    cis: list[CICreate],
    rels: list[RelationshipCreate],
    problems: list[RowProblem],
) -> None:
    pools = {ci.key: (i, ci.min_up) for i, ci in enumerate(cis) if ci.min_up}
    if not pools:
        return
    members: Counter[str] = Counter()
    target = ConfigurationItem.__table__.alias("t")
    query = (
        select(target.c.key, func.count(Relationship.id))
        .join(target, target.c.id == Relationship.target_id)
        .where(Relationship.type == RelType.MEMBER_OF.value)
        .group_by(target.c.key)
    )
    for chunk in _chunks(sorted(pools)):
        members.update(dict(session.execute(query.where(target.c.key.in_(chunk))).all()))
    members.update(r.target for r in rels if r.type is RelType.MEMBER_OF and r.target in pools)
    for key, (i, min_up) in pools.items():
        try:
            check_min_up(key, min_up, members[key])
        except InvalidInput as exc:
            problems.append(RowProblem("cis", i, exc.message))


def _digest(batch: ImportBatch) -> str:
    canonical = json.dumps(batch.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def import_batch(session: Session, *, actor: Actor, batch: ImportBatch) -> ImportResult:
    """Upsert a batch by key in the caller's transaction; any bad row rejects all of it."""
    problems: list[RowProblem] = []
    _check_cis(session, batch.cis, problems)
    if problems:
        raise ImportRejected(problems)
    event = audit.record(
        session,
        actor=actor,
        action="cmdb.import",
        object_type="cmdb_import",
        object_id=batch.cis[0].key if batch.cis else "relationships",
        after={
            "cis": len(batch.cis),
            "relationships": len(batch.relationships),
            "sha256": _digest(batch),
        },
    )
    created, updated, unchanged = _upsert_cis(session, batch.cis, event.seq, actor)
    resolved, _ = _resolve_rels(session, batch.relationships, problems)
    _check_pools(session, batch.cis, batch.relationships, problems)
    if problems:
        raise ImportRejected(problems)
    rel_created, rel_unchanged = _insert_rels(session, resolved, event.seq, actor)
    return ImportResult(
        cis_created=created,
        cis_updated=updated,
        cis_unchanged=unchanged,
        relationships_created=rel_created,
        relationships_unchanged=rel_unchanged,
    )
