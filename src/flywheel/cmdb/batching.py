"""Import records grouped into validated batches, one transaction each; no I/O to a DB.

Types, teams and CIs come first and relationships after them, never in the same
batch, so that every CI a relationship names is in by the time it is resolved, and a
pool's `member_of` rows are never split from the pool in one batch. A batch is
validated whole (one pydantic call per section, not one per row); a bad row raises
ImportFileError naming its line.
"""

from __future__ import annotations

import contextlib
import gc
import json
import queue
import tempfile
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from flywheel.cmdb.importer import KINDS, ImportFileError, Kind, Record, Source
from flywheel.cmdb.schemas import (
    CICreate,
    CITypeCreate,
    ImportBatch,
    ImportTeam,
    RelationshipCreate,
)

HOLD_BYTES = 64 << 20  # relationships held back beyond this much spill to a temporary file
SECTION_OF: dict[Kind, str] = {
    "type": "types",
    "team": "teams",
    "ci": "cis",
    "relationship": "relationships",
}
_ADAPTERS: dict[Kind, TypeAdapter[Any]] = {
    "type": TypeAdapter(list[CITypeCreate]),
    "team": TypeAdapter(list[ImportTeam]),
    "ci": TypeAdapter(list[CICreate]),
    "relationship": TypeAdapter(list[RelationshipCreate]),
}

T = TypeVar("T")
_LINE, _DATA = itemgetter(0), itemgetter(2)  # of a Record


@dataclass
class Batch:
    """Validated rows for one transaction, with the line each came from."""

    types: list[CITypeCreate] = field(default_factory=list)
    teams: list[ImportTeam] = field(default_factory=list)
    cis: list[CICreate] = field(default_factory=list)
    relationships: list[RelationshipCreate] = field(default_factory=list)
    lines: dict[str, list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.types) + len(self.teams) + len(self.cis) + len(self.relationships)

    @property
    def ci_lines(self) -> list[int]:
        """The line of each CI."""
        return self.lines.get("cis", [])

    @property
    def rel_lines(self) -> list[int]:
        """The line of each relationship."""
        return self.lines.get("relationships", [])

    def payload(self) -> ImportBatch:
        """The batch as bulk.import_batch takes it (rows are validated already)."""
        return ImportBatch.model_construct(
            types=self.types, teams=self.teams, cis=self.cis, relationships=self.relationships
        )

    def line_of(self, section: str, index: int) -> int:
        """The line of a row named by its section ('cis', 'relationships', …) and index."""
        return self.lines[section][index]


def describe(exc: ValidationError) -> str:
    """Pydantic errors as 'field: problem; …' (the first three)."""
    return describe_errors(exc.errors())


def describe_errors(errors: list[ErrorDetails]) -> str:
    """Error details as 'field: problem; …' (the first three)."""
    shown = [f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in errors[:3]]
    return "; ".join(shown)


def batches(source: Source, size: int) -> Iterator[Batch]:
    """Validated batches of up to `size` rows: relationships after everything else, never mixed.

    Never mixing keeps a pool and its members' `member_of` rows from being split so that a
    batch sees only some members and rejects the pool's min_up as larger than the pool.
    """
    pending: list[Record] = []
    pending_links = False
    for record in _ordered(source):
        links = record.kind == "relationship"
        if links is not pending_links and pending:
            yield _validated(source.name, pending)
            pending = []
        pending_links = links
        pending.append(record)
        if len(pending) >= size:
            yield _validated(source.name, pending)
            pending = []
    if pending:
        yield _validated(source.name, pending)


def _validated(name: str, records: list[Record]) -> Batch:
    """The records as a Batch, each section validated in one call."""
    batch = Batch()
    kinds = {r.kind for r in records}
    for kind in KINDS:
        if kind not in kinds:
            continue
        of_kind = records if len(kinds) == 1 else [r for r in records if r.kind == kind]
        try:
            rows = _ADAPTERS[kind].validate_python(list(map(_DATA, of_kind)))
        except ValidationError as exc:
            raise _row_error(name, of_kind, exc) from exc
        section = SECTION_OF[kind]
        setattr(batch, section, rows)
        batch.lines[section] = list(map(_LINE, of_kind))
    return batch


def _row_error(name: str, records: list[Record], exc: ValidationError) -> ImportFileError:
    """The first bad row's errors, named by its line."""
    errors = exc.errors()
    index = errors[0]["loc"][0]
    assert isinstance(index, int)
    of_row = [ErrorDetails(**{**e, "loc": e["loc"][1:]}) for e in errors if e["loc"][0] == index]
    return ImportFileError(name, records[index].line, describe_errors(of_row))


def _ordered(source: Source) -> Iterator[Record]:
    """Records with relationships last; held back (spooled to disk) unless CIs come first."""
    with tempfile.SpooledTemporaryFile(HOLD_BYTES, "w+", encoding="utf-8") as held:
        for record in source.records:
            if source.cis_first or record.kind != "relationship":
                yield record
            else:
                held.write(json.dumps([record.line, record.data]) + "\n")
        held.seek(0)
        for text in held:
            line, data = json.loads(text)
            yield Record(line, "relationship", data)


def prefetched(items: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """The items, produced up to `depth` ahead by a background thread.

    An import reads and validates the next batches while the current one is written:
    database drivers release the GIL while the database works, so the two overlap. An
    error while producing is raised here, in order, after the items produced before it.
    """
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                ready.put((True, item))
                if stop.is_set():
                    return
            ready.put((False, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            ready.put((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="cmdb-import-reader", daemon=True)
    thread.start()
    try:
        while True:
            is_item, value = ready.get()
            if not is_item:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting for room, then let it end
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while a long import runs.

    An import allocates millions of short-lived objects and keeps a batch of them alive
    at a time; with the default thresholds the collector keeps rescanning everything
    (about a third of the import's CPU time, measured). The objects that exist before
    are long-lived (modules, the engine), so they are frozen out of later collections.
    """
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
