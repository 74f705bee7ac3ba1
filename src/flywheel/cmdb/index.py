"""The in-memory graph index: loaded from the database once, kept current from the change feed.

Every CMDB write adds `cmdb_changes` rows stamped with the audit event of its
transaction; audit sequence numbers grow in commit order, so an index that has
applied everything up to sequence N only needs the rows after N. If the event
it last saw no longer has the hash it remembers (database restored or
recreated), it reloads from scratch.
"""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.cmdb.graph import CmdbGraph, MinUp
from flywheel.cmdb.models import CmdbChange, ConfigurationItem, Relationship
from flywheel.cmdb.schemas import (
    DependenciesOut,
    DependencyOut,
    EdgeOut,
    ImpactOut,
    ImpairedOut,
    ServiceImpactOut,
    TenantOut,
)
from flywheel.errors import NotFound

ImpactReport = ImpactOut
DependencyReport = DependenciesOut

FULL_RELOAD_AFTER = 50_000
MAX_IMPAIRED_LISTED = 500
_LOAD_BATCH = 50_000


@dataclass
class GraphIndex:
    """A CmdbGraph and how far into the change feed it is."""

    graph: CmdbGraph = field(default_factory=CmdbGraph)
    seq: int = -1
    seq_hash: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sync(self, session: Session) -> None:
        """Apply every committed change since the last sync (or load everything)."""
        latest = int(session.scalar(select(func.max(CmdbChange.audit_seq))) or 0)
        if self.seq < 0 or audit.hash_at(session, seq=self.seq) != self.seq_hash:
            self._reload(session, latest)
            return
        if latest == self.seq:
            return
        pending = session.scalar(
            select(func.count(CmdbChange.id)).where(CmdbChange.audit_seq > self.seq)
        )
        if (pending or 0) > FULL_RELOAD_AFTER:
            self._reload(session, latest)
            return
        self._apply(session, self.seq, latest)
        self._mark(session, latest)

    def _mark(self, session: Session, seq: int) -> None:
        self.seq, self.seq_hash = seq, audit.hash_at(session, seq=seq)

    def _reload(self, session: Session, latest: int) -> None:
        # Millions of objects that all live on: the cyclic GC would rescan them over and
        # over while they are built (a third of the load time), so it waits until the end.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._load(session, latest)
        finally:
            if was_enabled:
                gc.enable()

    def _load(self, session: Session, latest: int) -> None:
        self.graph = CmdbGraph()
        self._mark(session, latest)
        cis = select(
            ConfigurationItem.id,
            ConfigurationItem.key,
            ConfigurationItem.type,
            ConfigurationItem.name,
            ConfigurationItem.criticality,
            ConfigurationItem.min_up,
        )
        for row in session.execute(cis.execution_options(yield_per=_LOAD_BATCH)):
            self._put_ci(*row)
        rels = select(
            Relationship.id,
            Relationship.source_id,
            Relationship.type,
            Relationship.target_id,
            Relationship.optional,
        )
        for rel_id, source, rel_type, target, optional in session.execute(
            rels.execution_options(yield_per=_LOAD_BATCH)
        ):
            self.graph.add_relationship(
                rel_id, source_id=source, rel_type=rel_type, target_id=target, optional=optional
            )
        # A million long-lived objects: keep the cyclic GC from rescanning them on every query.
        gc.collect()
        gc.freeze()
        # Changes committed while loading are replayed; applying one twice is harmless.
        newest = int(session.scalar(select(func.max(CmdbChange.audit_seq))) or 0)
        if newest > latest:
            self._apply(session, latest, newest)
            self._mark(session, newest)

    def _put_ci(
        self, ci_id: int, key: str, ci_type: str, name: str, crit: int, min_up: str | None
    ) -> None:
        self.graph.upsert_ci(
            ci_id,
            key=key,
            ci_type=ci_type,
            name=name,
            criticality=crit,
            min_up=MinUp.parse(min_up),
        )

    def _apply(self, session: Session, after: int, upto: int) -> None:
        changes = list(
            session.scalars(
                select(CmdbChange)
                .where(CmdbChange.audit_seq > after, CmdbChange.audit_seq <= upto)
                .order_by(CmdbChange.id)
            )
        )
        ci_keys = {c.ci_key for c in changes if c.op.startswith("ci.")}
        self._refresh_cis(session, ci_keys)
        for change in changes:
            if change.op == "rel.create" and change.after:
                self._add_rel(change.after)
            elif change.op == "rel.delete" and change.before:
                self.graph.remove_relationship(int(change.before["id"]))

    def _refresh_cis(self, session: Session, keys: set[str]) -> None:
        found: set[str] = set()
        ordered = sorted(keys)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            rows = session.execute(
                select(
                    ConfigurationItem.id,
                    ConfigurationItem.key,
                    ConfigurationItem.type,
                    ConfigurationItem.name,
                    ConfigurationItem.criticality,
                    ConfigurationItem.min_up,
                ).where(ConfigurationItem.key.in_(chunk))
            )
            for row in rows:
                self._put_ci(*row)
                found.add(row.key)
        for gone in keys - found:
            ci_id = self.graph.id_of(gone)
            if ci_id is not None:
                self.graph.remove_ci(ci_id)

    def _add_rel(self, summary: dict[str, object]) -> None:
        source = self.graph.id_of(str(summary["source"]))
        target = self.graph.id_of(str(summary["target"]))
        if source is None or target is None:
            return
        self.graph.add_relationship(
            int(str(summary["id"])),
            source_id=source,
            rel_type=str(summary["type"]),
            target_id=target,
            optional=bool(summary["optional"]),
        )


_indexes: dict[str, GraphIndex] = {}
_indexes_lock = threading.Lock()


def index_for(session: Session) -> GraphIndex:
    """The process's graph index for the session's database."""
    bind = session.get_bind()
    url = bind.engine.url.render_as_string(hide_password=True)
    with _indexes_lock:
        return _indexes.setdefault(url, GraphIndex())


def _ids(graph: CmdbGraph, keys: list[str]) -> list[int]:
    ids, missing = [], []
    for key in keys:
        ci_id = graph.id_of(key)
        if ci_id is None:
            missing.append(key)
        else:
            ids.append(ci_id)
    if missing:
        raise NotFound(f"no configuration item {', '.join(repr(k) for k in missing)}")
    return ids


def impact(
    session: Session, *, keys: list[str], top_tenants: int = 10, sync: bool = True
) -> ImpactOut:
    """What fails, and for whom, if all the given CIs fail."""
    idx = index_for(session)
    with idx.lock:
        if sync:  # False: the caller synced the index earlier in this transaction
            idx.sync(session)
        result = idx.graph.impact(
            _ids(idx.graph, keys), top_tenants=top_tenants, list_impaired=MAX_IMPAIRED_LISTED
        )
    names = _names(session, [t.ci_id for t in result.top_tenants])
    services = [
        ServiceImpactOut(
            key=s.key,
            name=s.name,
            status=s.status.value,
            redundancy_left=s.redundancy_left,
            path=list(s.path),
        )
        for s in result.business_services
    ]
    return ImpactOut(
        failed=list(result.failed),
        status=result.status.value,
        summary=summarize(services, result.tenants_affected),
        business_services=services,
        impaired=[
            ImpairedOut(
                key=c.key, type=c.ci_type, status=c.status.value, redundancy_left=c.redundancy_left
            )
            for c in result.impaired
        ],
        impaired_count=result.impaired_count,
        tenants_affected=result.tenants_affected,
        top_tenants=[
            TenantOut(key=t.key, name=names.get(t.ci_id, t.key), criticality=t.criticality)
            for t in result.top_tenants
        ],
    )


def summarize(services: list[ServiceImpactOut], tenants: int) -> str:
    """One line a responder can read at a glance."""
    if not services:
        return f"no business service impaired; {tenants:,} tenants affected"
    parts = []
    for s in services:
        extra = f", redundancy left: {s.redundancy_left}" if s.redundancy_left is not None else ""
        parts.append(f"{s.key} {s.status}{extra}")
    return "; ".join(parts) + f"; {tenants:,} tenants affected"


def _names(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    query = select(ConfigurationItem.id, ConfigurationItem.name).where(
        ConfigurationItem.id.in_(ids)
    )
    return dict(session.execute(query).all())


def dependencies(
    session: Session, *, key: str, max_depth: int | None = None, sync: bool = True
) -> DependenciesOut:
    """What a CI needs, walking relationships from source to target."""
    idx = index_for(session)
    with idx.lock:
        if sync:  # False: the caller synced the index earlier in this transaction
            idx.sync(session)
        (ci_id,) = _ids(idx.graph, [key])
        result = idx.graph.dependencies(ci_id, max_depth=max_depth)
    return DependenciesOut(
        key=key,
        dependencies=[
            DependencyOut(key=d.key, type=d.ci_type, depth=d.depth) for d in result.reachable
        ],
        edges=[EdgeOut(source=e.source, type=e.rel_type, target=e.target) for e in result.edges],
    )


def dependents(session: Session, *, key: str, sync: bool = True) -> set[str]:
    """Keys of every non-tenant CI that needs this one, directly or not."""
    idx = index_for(session)
    with idx.lock:
        if sync:  # False: the caller synced the index earlier in this transaction
            idx.sync(session)
        (ci_id,) = _ids(idx.graph, [key])
        result = idx.graph.impact([ci_id], top_tenants=0)
    return {c.key for c in result.impaired} | {s.key for s in result.business_services}
