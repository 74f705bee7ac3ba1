"""Importing CIs and relationships in bulk: idempotent upsert by key, all or nothing per batch.

A batch is checked whole before anything is written (types, teams, CI keys, types and
attributes); relationships are resolved against the CIs stored once the batch's CIs
are in, and pools' min_up against their members once its relationships are in. Any
problem raises ImportRejected: the caller rolls the transaction back, so nothing of the
batch stays. Every created or changed CI and every new relationship gets a history
row (`cmdb_changes`) stamped with the batch's one `cmdb.import` audit event. Rows are
written by the backend's writer (`bulk_sqlite`, `bulk_postgres`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth.actor import Actor
from flywheel.cmdb import bulk_catalog, bulk_postgres, bulk_sqlite
from flywheel.cmdb.bulk_catalog import Catalog, RowProblem
from flywheel.cmdb.bulk_writer import FOUND_COLUMNS, BulkWriter, CIRow, Link, StagedLinks, Stamp
from flywheel.cmdb.models import CmdbChange, ConfigurationItem, Relationship
from flywheel.cmdb.schemas import CICreate, ImportBatch, ImportResult
from flywheel.cmdb.validation import check_attributes, check_min_up
from flywheel.cmdb.vocabulary import TYPED_ENDS, Lifecycle, RelType, check_relationship_ends
from flywheel.db import utcnow
from flywheel.errors import InvalidInput, StaleVersion

__all__ = ["ImportRejected", "RowProblem", "Staged", "finish", "import_batch", "stage"]

WRITERS: dict[str, BulkWriter] = {"sqlite": bulk_sqlite, "postgresql": bulk_postgres}
_CHUNK = 900  # keeps IN lists within every backend's parameter limit
_FIELDS = FOUND_COLUMNS[3:]  # name … attributes: what history keeps besides the key
_MIN_UP = FOUND_COLUMNS.index("min_up")
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
_STATUS = {status: status.value for status in Lifecycle}
_REL_TYPE = {rel_type: rel_type.value for rel_type in RelType}
_REL_TYPE_OF = {rel_type.value: rel_type for rel_type in RelType}
_TYPED_ENDS = frozenset(rel_type.value for rel_type in TYPED_ENDS)
# a relationship as given: source key, type, target key, optional (the type's value: a
# StrEnum member hashes in Python, a str in C, and the rows are looked up many times)
Given = tuple[str, str, str, bool]


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
class Staged:
    """A checked batch and what could be written before its audit event."""

    actor: Actor
    batch: ImportBatch
    catalog: Catalog
    rows: list[CIRow]
    given: list[Given]
    digest: str
    links: StagedLinks = None  # the links a relationships-only batch has written
    valid_links: int = 0


def import_batch(
    session: Session, *, actor: Actor, batch: ImportBatch, durable: bool = True
) -> ImportResult:
    """Upsert a batch by key in the caller's transaction; any bad row rejects all of it.

    `durable=False` (bulk loads that can simply be run again) lets the commit return
    before the database has flushed it to disk.
    """
    return finish(session, stage(session, actor=actor, batch=batch), durable=durable)


def stage(session: Session, *, actor: Actor, batch: ImportBatch) -> Staged:
    """Check a batch; a batch of relationships only also writes its new links now.

    Nothing here takes the audit chain's lock, so one session can stage a batch while
    another finishes the batch before it. The links are written in the caller's
    transaction; finish() adds their history (which needs the audit event).
    """
    problems: list[RowProblem] = []
    catalog = bulk_catalog.check(session, batch, problems)
    rows = _ci_rows(batch.cis, catalog, problems)
    if problems:
        raise ImportRejected(problems)
    given = [(r.source, _REL_TYPE[r.type], r.target, r.optional) for r in batch.relationships]
    staged = Staged(actor, batch, catalog, rows, given, _digest(batch, rows, given))
    if given and not (batch.cis or batch.types or batch.teams):
        conn, writer = session.connection(), _writer(session)
        links, staged.valid_links = _links(writer, conn, given, problems)
        if problems:
            raise ImportRejected(problems)
        staged.links = writer.stage_links(conn, links)
    return staged


def finish(session: Session, staged: Staged, *, durable: bool = True) -> ImportResult:
    """Write the rest of a staged batch under its audit event; problems reject it all."""
    batch, actor = staged.batch, staged.actor
    bulk_catalog.create(session, actor=actor, catalog=staged.catalog)
    event = audit.record(
        session,
        actor=actor,
        action="cmdb.import",
        object_type="cmdb_import",
        object_id=batch.cis[0].key if batch.cis else "relationships",
        after={
            "types": len(batch.types),
            "teams": len(batch.teams),
            "cis": len(batch.cis),
            "relationships": len(batch.relationships),
            "sha256": staged.digest,
        },
    )
    conn, writer = session.connection(), _writer(session)
    if not durable:
        writer.prepare_bulk(conn)
    stamp = Stamp(event.seq, actor.name, utcnow())
    created = updated = 0
    pools: dict[str, int] = {}
    problems: list[RowProblem] = []
    if staged.links is None:
        created, updated, pools = _upsert_cis(session, writer, batch.cis, staged.rows, stamp)
        links, staged.valid_links = _links(writer, conn, staged.given, problems)
        staged.links = writer.stage_links(conn, links)  # also on problems: pools count them
    rel_created = writer.link_history(conn, staged.links, stamp)
    _check_pools(session, pools, problems)
    if problems:
        raise ImportRejected(problems)
    return ImportResult(
        cis_created=created,
        cis_updated=updated,
        cis_unchanged=len(staged.rows) - created - updated,
        relationships_created=rel_created,
        relationships_unchanged=staged.valid_links - rel_created,
        types_created=len(staged.catalog.new_types),
        teams_created=len(staged.catalog.new_teams),
    )


def _writer(session: Session) -> BulkWriter:
    return WRITERS[session.get_bind().dialect.name]


def _ci_rows(cis: list[CICreate], catalog: Catalog, problems: list[RowProblem]) -> list[CIRow]:
    """Each CI as the row the writers store, checking keys, types, attributes and teams."""
    rows: list[CIRow] = []
    seen: set[str] = set()
    schemas, teams = catalog.schemas, catalog.teams
    for i, ci in enumerate(cis):
        key, ci_type, team = ci.key, ci.type, ci.owner_team
        if key in seen:
            problems.append(RowProblem("cis", i, f"key '{key}' appears twice in the batch"))
        seen.add(key)
        if ci_type not in schemas:
            problems.append(RowProblem("cis", i, f"unknown CI type '{ci_type}'"))
            continue
        schema = schemas[ci_type]
        if schema is not None:
            try:
                check_attributes(ci_type, schema, ci.attributes)
            except InvalidInput as exc:
                problems.append(RowProblem("cis", i, exc.message))
        if team is not None and team not in teams:
            message = f"unknown owner_team '{team}' (create the team or list it under teams)"
            problems.append(RowProblem("cis", i, message))
        attributes = _ENCODE(ci.attributes) if ci.attributes else "{}"
        status = _STATUS[ci.status]
        rows.append(
            (
                key,
                ci.name,
                ci_type,
                ci.environment,
                status,
                ci.criticality,
                team,
                ci.min_up,
                attributes,
            )
        )
    return rows


def _digest(batch: ImportBatch, rows: list[CIRow], given: list[Given]) -> str:
    """SHA-256 of the batch in a canonical form: types, teams, CI rows, relationships."""
    types = [t.model_dump(mode="json") for t in batch.types]
    teams = [t.model_dump(mode="json") for t in batch.teams]
    return hashlib.sha256(_ENCODE([types, teams, rows, given]).encode()).hexdigest()


def _summary(values: Iterable[Any]) -> dict[str, Any]:
    """What history keeps of a CI, from its key and _FIELDS values."""
    return dict(zip(("key", *_FIELDS), values, strict=True))


def _upsert_cis(
    session: Session, writer: BulkWriter, cis: list[CICreate], rows: list[CIRow], stamp: Stamp
) -> tuple[int, int, dict[str, int]]:
    """Insert new CIs, update changed ones; (created, updated, pools whose min_up is new).

    The pools are given by key, with their index in the batch.
    """
    conn = session.connection()
    found = {row[2]: row for row in writer.find_cis(conn, [row[0] for row in rows])}
    pools = {ci.key: i for i, ci in enumerate(cis) if ci.min_up is not None}
    if not found:
        return writer.insert_cis(conn, rows, stamp), 0, pools
    new = [row for row in rows if row[0] not in found]
    changed: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for ci, row in zip(cis, rows, strict=True):
        stored = found.get(ci.key)
        if stored is None:
            continue
        after = _summary((*row[:-1], ci.attributes))
        if after != _summary(stored[2:]):
            changed.append((stored, after))
        if stored[_MIN_UP] == ci.min_up:
            pools.pop(ci.key, None)
    created = writer.insert_cis(conn, new, stamp)
    _update_changed(conn, changed, stamp)
    return created, len(changed), pools


def _update_changed(
    conn: Connection, changed: list[tuple[tuple[Any, ...], dict[str, Any]]], stamp: Stamp
) -> None:
    """Update CIs by id, only at the version read (a concurrent writer makes this a 409)."""
    if not changed:
        return
    table = cast(Table, ConfigurationItem.__table__)
    stmt = (
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
        .values(
            {
                **{f: bindparam(f"b_{f}") for f in _FIELDS},
                "version": table.c.version + 1,
                "updated_at": stamp.now,
            }
        )
    )
    params = [
        {"b_id": stored[0], "b_version": stored[1], **{f"b_{f}": after[f] for f in _FIELDS}}
        for stored, after in changed
    ]
    updated = sum(conn.execute(stmt, chunk).rowcount for chunk in _chunks(params))
    if conn.dialect.supports_sane_multi_rowcount and updated != len(changed):
        raise StaleVersion("CIs in this batch were changed by someone else meanwhile: retry")
    history = [
        _history(stamp, "ci.update", after["key"], _summary(stored[2:]), after)
        for stored, after in changed
    ]
    for chunk in _chunks(history):
        conn.execute(insert(cast(Table, CmdbChange.__table__)), chunk)


def _history(
    stamp: Stamp, op: str, key: str, before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any]:
    return {
        "audit_seq": stamp.audit_seq,
        "occurred_at": stamp.now,
        "actor": stamp.actor,
        "op": op,
        "ci_key": key,
        "other_key": None,
        "before": before,
        "after": after,
    }


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _links(
    writer: BulkWriter, conn: Connection, given: list[Given], problems: list[RowProblem]
) -> tuple[list[Link], int]:
    """Each distinct relationship by CI ids, checking that both ends exist and fit its type.

    Also returns how many rows were valid (a link given twice counts twice).
    """
    if not given:
        return [], 0
    keys = {source for source, _, _, _ in given}
    keys.update(target for _, _, target, _ in given)
    ids = writer.ci_ids(conn, list(keys))
    links: list[Link] = []
    seen: set[tuple[int, str, int]] = set()
    ends: dict[tuple[str, str, str], str | None] = {}  # problem by type and end types
    valid = 0
    for i, (source_key, rel_type, target_key, optional) in enumerate(given):
        source, target = ids.get(source_key), ids.get(target_key)
        if source is None or target is None:
            missing = source_key if source is None else target_key
            problems.append(RowProblem("relationships", i, f"no configuration item '{missing}'"))
            continue
        problem = None
        if rel_type in _TYPED_ENDS:
            shape = (rel_type, source[1], target[1])
            if shape not in ends:
                ends[shape] = check_relationship_ends(_REL_TYPE_OF[rel_type], *shape[1:])
            problem = ends[shape]
        if source[0] == target[0]:
            problem = f"'{source_key}' cannot be related to itself"
        if problem:
            problems.append(RowProblem("relationships", i, problem))
            continue
        valid += 1
        link = (source[0], rel_type, target[0])
        if link not in seen:
            seen.add(link)
            links.append((*link, optional, source_key, target_key))
    return links, valid


def _check_pools(session: Session, pools: dict[str, int], problems: list[RowProblem]) -> None:
    """Pools whose min_up this batch set: min_up against their members as now stored.

    Counted after the batch's relationships are in, so members stored before and members
    added by the batch count once each.
    """
    if not pools:
        return
    target = ConfigurationItem.__table__.alias("t")
    query = (
        select(target.c.key, target.c.min_up, func.count(Relationship.id))
        .select_from(Relationship)
        .join(target, target.c.id == Relationship.target_id)
        .where(Relationship.type == RelType.MEMBER_OF.value)
        .group_by(target.c.key, target.c.min_up)
    )
    for chunk in _chunks(sorted(pools)):
        for key, min_up, members in session.execute(query.where(target.c.key.in_(chunk))):
            try:
                check_min_up(key, min_up, members)
            except InvalidInput as exc:
                problems.append(RowProblem("cis", pools[key], exc.message))
