"""Loading a Source into the database: batches in order, one transaction each.

A background thread reads and validates the next batches (batching.prefetched). On
PostgreSQL two sessions take turns: while one batch finishes (its audit event, history
and commit), the next batch of relationships is staged (its links written and checked
against their CIs), which is where the database spends most of an import. Stages run in
batch order and so do finishes, so the batches commit in order, and a batch only ever
waits for the rows of the batch before it, never after. A batch with CIs, types or
teams waits for the one before it to commit (its relationships may name them). On
SQLite, where writers take the database lock in turn anyway, each batch waits for the
one before it to commit.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, fields

from flywheel.auth.actor import Actor
from flywheel.cmdb import batching, bulk
from flywheel.cmdb.batching import Batch
from flywheel.cmdb.importer import Source
from flywheel.cmdb.schemas import ImportResult
from flywheel.db import Database
from flywheel.errors import FlywheelError, InvalidInput


@dataclass
class ImportTotals:
    """What an import has committed so far."""

    batches: int = 0
    rows: int = 0
    cis_created: int = 0
    cis_updated: int = 0
    cis_unchanged: int = 0
    relationships_created: int = 0
    relationships_unchanged: int = 0
    types_created: int = 0
    teams_created: int = 0

    def add(self, batch: Batch, result: ImportResult) -> None:
        """Count one committed batch."""
        self.batches += 1
        self.rows += len(batch)
        for f in fields(self)[2:]:
            setattr(self, f.name, getattr(self, f.name) + getattr(result, f.name))

    def committed(self) -> str:
        """What stays committed after a failure."""
        if not self.batches:
            return "nothing was imported"
        return f"{self.batches} earlier batch(es) with {self.rows:,} rows stay committed"


class _Skipped(Exception):
    """A batch rolled back because the one before it failed (that failure is reported)."""


@dataclass
class _Turn:
    """A batch on its way: set `staged` once its stage step is over, its future when done."""

    staged: threading.Event
    future: Future[ImportResult]
    links_only: bool


def import_source(
    db: Database,
    source: Source,
    *,
    actor: Actor,
    batch_size: int = 5000,
    on_batch: Callable[[ImportTotals], None] | None = None,
) -> ImportTotals:
    """Import a source in batches, one transaction each; a bad row stops it, naming its line.

    Batches before the bad one stay committed; the bad one and any after it do not.
    """
    totals = ImportTotals()
    overlap = db.dialect == "postgresql"
    try:
        with (
            batching.fewer_collections(),
            ThreadPoolExecutor(2, thread_name_prefix="cmdb-import") as pool,
            closing(batching.prefetched(batching.batches(source, batch_size))) as batches,
        ):
            in_flight: deque[tuple[Batch, Future[ImportResult]]] = deque()
            previous: _Turn | None = None
            try:
                for batch in batches:
                    previous = _submit(pool, db, source.name, batch, actor, previous, overlap)
                    in_flight.append((batch, previous.future))
                    while len(in_flight) > 1:  # two batches in flight at most
                        _count(totals, *in_flight.popleft(), on_batch)
            except BaseException:
                _settle(totals, in_flight, on_batch)
                raise
            while in_flight:
                _count(totals, *in_flight.popleft(), on_batch)
    except FlywheelError as exc:
        message = f"{exc.message} (that batch was not written; {totals.committed()})"
        error = InvalidInput if isinstance(exc, InvalidInput) else FlywheelError
        raise error(message, details=exc.details) from exc
    return totals


def _count(
    totals: ImportTotals,
    batch: Batch,
    future: Future[ImportResult],
    on_batch: Callable[[ImportTotals], None] | None,
) -> None:
    totals.add(batch, future.result())  # a failed batch raises its error here, in order
    if on_batch is not None:
        on_batch(totals)


def _settle(
    totals: ImportTotals,
    in_flight: deque[tuple[Batch, Future[ImportResult]]],
    on_batch: Callable[[ImportTotals], None] | None,
) -> None:
    """After an error: wait for the batches in flight and count those that committed."""
    while in_flight:
        batch, future = in_flight.popleft()
        if future.exception() is None:
            _count(totals, batch, future, on_batch)


def _submit(
    pool: ThreadPoolExecutor,
    db: Database,
    name: str,
    batch: Batch,
    actor: Actor,
    previous: _Turn | None,
    overlap: bool,
) -> _Turn:
    links_only = not (batch.cis or batch.types or batch.teams)
    early = overlap and links_only and previous is not None and previous.links_only
    staged = threading.Event()
    future = pool.submit(_write, db, name, batch, actor, previous, early, staged)
    return _Turn(staged, future, links_only)


def _write(
    db: Database,
    name: str,
    batch: Batch,
    actor: Actor,
    previous: _Turn | None,
    early: bool,
    staged: threading.Event,
) -> ImportResult:
    """One batch in its own transaction: staged (early, or once the one before is done),
    then finished once the one before has committed."""
    try:
        if previous is not None and early:
            previous.staged.wait()
        elif previous is not None:
            _wait_done(previous)
        with db.session(write=True) as session:
            with _named(name, batch):
                prepared = bulk.stage(session, actor=actor, batch=batch.payload())
            staged.set()
            if previous is not None:
                _wait_done(previous)
            with _named(name, batch):
                # a file import can be run again, so it does not wait for each commit's flush
                result = bulk.finish(session, prepared, durable=False)
            session.commit()
        return result
    finally:
        staged.set()


def _wait_done(previous: _Turn) -> None:
    if previous.future.exception() is not None:
        raise _Skipped


@contextmanager
def _named(name: str, batch: Batch) -> Iterator[None]:
    """Rows a step rejects, named by file and line."""
    try:
        yield
    except bulk.ImportRejected as exc:
        shown = [f"{name}:{batch.line_of(p.section, p.index)}: {p.message}" for p in exc.problems]
        more = f" (+{len(shown) - 5} more)" if len(shown) > 5 else ""
        raise InvalidInput("; ".join(shown[:5]) + more, details=exc.details) from exc
