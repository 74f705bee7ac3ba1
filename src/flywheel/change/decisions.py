"""Pipelines' change requests decided in batches: one transaction and one commit for many.

Every `POST /changes` waiting in this process joins the next batch. A batch checks all
its bearer tokens with one lookup, reads the policy, windows and risk model once
(`batch_reads`), opens each change in order exactly as a lone request would (a later
change sees the earlier ones as conflicts or as the same external_id), appends every
audit event under one lock of the chain head, and commits once. Each request then gets
the answer, or the error, it would have got alone: a request that fails its checks
writes nothing, and its Idempotency-Key is given back. While a batch runs, the next
one gathers, so batches grow with the load and a lone request waits for no one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from fastapi import status
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from flywheel.audit import service as audit
from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.auth.policy import require_permission
from flywheel.auth.roles import Permission
from flywheel.batch_reads import shared_reads
from flywheel.change import batch_memo, service
from flywheel.change.conflict_reads import prefetch_candidates
from flywheel.change.policy_store import prefetch_policies
from flywheel.change.schemas import ChangeCreate, ChangeOut
from flywheel.context import request_id_var
from flywheel.db import Database
from flywheel.errors import FlywheelError
from flywheel.http import idempotency

log = logging.getLogger("flywheel.change")
JSON = "application/json"
MAX_BATCH = 64
# Shared by every desk of the process; each desk runs one batch at a time.
_executor = ThreadPoolExecutor(4, thread_name_prefix="flywheel-change-batch")


@dataclass
class Submitted:
    """One request's part of a batch: who sent it, what it asks, its Idempotency-Key."""

    secret: str
    data: ChangeCreate
    state: dict[str, Any]  # the request's scope state (holds its Idempotency-Key claim)
    request_id: str | None


@dataclass(frozen=True)
class Answer:
    """What one request gets back: a JSON body with its status, or the error to raise."""

    status: int = 0
    body: bytes = b""
    error: BaseException | None = None


@dataclass
class _Ready:
    """A request that passed its checks: the change to write (or the one it repeats)."""

    index: int
    item: Submitted
    actor: Actor
    claim: Any
    touched: Any  # the CIs to write the change with, or the Opened change it repeats


@dataclass
class _Batch:
    """The work of one batch transaction, in the order of its requests."""

    answers: list[Answer | None]
    claims: list[Any] = field(default_factory=list)
    ready: list[_Ready] = field(default_factory=list)
    opened: list[tuple[int, service.Opened, Any]] = field(default_factory=list)
    audit: list[tuple[Actor, str | None, list[audit.EventSpec]]] = field(default_factory=list)


def decide_batch(db: Database, items: list[Submitted]) -> list[Answer]:
    """Open and decide the changes of several requests in one transaction; their answers."""
    batch = _Batch(answers=[None] * len(items))
    try:
        with db.session(write=True) as session, shared_reads(session):
            actors = auth_service.authenticate_tokens(session, {i.secret for i in items})
            batch_memo.prefetch(session, [i.data for i in items])
            prefetch_policies(session, {i.data.service for i in items})
            prefetch_candidates(session, [i.data for i in items])
            allowed = _allowed(batch, items, actors)
            idempotency.take_claims([item.state for _, item, _ in allowed], session.connection())
            for index, item, actor in allowed:
                with _on_behalf_of(item):
                    _check_one(session, batch, index, item, actor)
            with session.no_autoflush:
                _write_ready(session, batch)
            batch_memo.write_batch(session)
            _answer_opened(session, batch)
            audit.record_batch(session, batch.audit)
            session.commit()
    except BaseException:
        idempotency.batch_ended(batch.claims, committed=False)
        raise
    idempotency.batch_ended(batch.claims, committed=True)
    return [a if a is not None else Answer(error=RuntimeError("no answer")) for a in batch.answers]


def _allowed(
    batch: _Batch, items: list[Submitted], actors: dict[str, Any]
) -> list[tuple[int, Submitted, Actor]]:
    """The requests whose token may open changes; the others are answered 401/403."""
    allowed = []
    for index, item in enumerate(items):
        actor = actors[item.secret]
        try:
            if isinstance(actor, FlywheelError):
                raise actor
            require_permission(actor, Permission.CHANGE_CREATE)
        except FlywheelError as refused:
            batch.answers[index] = Answer(error=refused)
            continue
        allowed.append((index, item, actor))
    return allowed


@contextmanager
def _on_behalf_of(item: Submitted) -> Iterator[None]:
    """What is logged while the batch works on one request carries that request's id."""
    token = request_id_var.set(item.request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


def _check_one(session: Session, batch: _Batch, index: int, item: Submitted, actor: Actor) -> None:
    """Claim and check one request (reads only); a refusal goes in its answer."""
    try:
        claim = idempotency.take_claim(item.state, session.connection())
    except idempotency.KeyInUse as refused:
        batch.answers[index] = Answer(error=refused)
        return
    if claim is not None:
        batch.claims.append(claim)
    try:
        checked = service.check_change(session, data=item.data)
    except FlywheelError as refused:
        if claim is not None:
            idempotency.drop_claim(claim, session.connection())
        batch.answers[index] = Answer(error=refused)
        return
    batch.ready.append(_Ready(index, item, actor, claim, checked))


def _write_ready(session: Session, batch: _Batch) -> None:
    """Write the checked changes in order, numbered in advance; a repeat gets the first."""
    fresh = [r for r in batch.ready if not isinstance(r.touched, service.Opened)]
    numbers = iter(batch_memo.reserve_numbers(session, len(fresh)))
    for ready in batch.ready:
        with _on_behalf_of(ready.item):
            _write_one(session, batch, ready, numbers)


def _write_one(session: Session, batch: _Batch, ready: _Ready, numbers: Iterator[int]) -> None:
    """Write one checked change (or take the one it repeats) and keep its audit events."""
    opened = ready.touched
    if not isinstance(opened, service.Opened):
        _, first = batch_memo.known_change(session, ready.item.data)
        if first is not None:  # the same external_id earlier in this batch
            opened = service.Opened(first, False)
            next(numbers)
        else:
            opened = service.write_change(
                session,
                actor=ready.actor,
                data=ready.item.data,
                touched=opened,
                number=next(numbers),
            )
    batch.opened.append((ready.index, opened, ready.claim))
    batch.audit.append((ready.actor, ready.item.request_id, opened.events))


def _answer_opened(session: Session, batch: _Batch) -> None:
    """Each opened change's JSON answer, stored under its key in the same transaction."""
    keyed = []
    for index, opened, claim in batch.opened:
        body = ChangeOut.model_validate(opened.change).model_dump_json().encode()
        code = status.HTTP_201_CREATED if opened.created else status.HTTP_200_OK
        if claim is not None:
            keyed.append((claim, code, body))
        batch.answers[index] = Answer(code, body)
    idempotency.store_answers(session.connection(), keyed, JSON)


def decide_each(db: Database, items: list[Submitted]) -> list[Answer]:
    """Each request in a batch of its own: after a batch failed, find whose request did it."""
    answers = []
    for item in items:
        try:
            with _on_behalf_of(item):
                answers.extend(decide_batch(db, [item]))
        except Exception as failed:  # this request's own failure becomes its answer
            answers.append(Answer(error=failed))
    return answers


def decide(db: Database, items: list[Submitted]) -> list[Answer]:
    """decide_batch; when it fails other than by the database, each request again alone.

    A database that is down or busy fails every request of the batch alike; anything else
    (a unique key another process took meanwhile, a fault in one request) is found by
    deciding each request on its own, so only that request's answer carries it.
    """
    try:
        return decide_batch(db, items)
    except OperationalError:
        raise
    except Exception:
        if len(items) == 1:
            raise
        ids = ", ".join(str(i.request_id) for i in items)
        log.info("a batch of %d change requests (%s) failed; deciding each alone", len(items), ids)
        return decide_each(db, items)


class ChangeDesk:
    """The batches of one process (and event loop): requests wait while a batch runs.

    One batch at a time: on SQLite there is one writer anyway, and on PostgreSQL two
    batches in flight made smaller batches and cost more CPU per decision than they
    saved in waiting (measured with two worker processes: 31-42 against 37-84 decisions/s
    under the same load). More processes (`--workers`) are the way to more throughput.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: list[tuple[Submitted, asyncio.Future[Answer]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: Submitted) -> Answer:
        """Queue one request and wait for its answer."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self._waiting.append((item, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch = self._next_batch()
            items = [item for item, _ in batch]
            try:
                answers = await loop.run_in_executor(_executor, decide, self.db, items)
            except Exception as failed:  # the database failed the whole batch: all hear it
                answers = [Answer(error=failed)] * len(items)
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

    def _next_batch(self) -> list[tuple[Submitted, asyncio.Future[Answer]]]:
        """Up to MAX_BATCH waiting requests; a repeated Idempotency-Key waits for the next."""
        taken: list[tuple[Submitted, asyncio.Future[Answer]]] = []
        later: list[tuple[Submitted, asyncio.Future[Answer]]] = []
        keys: set[tuple[str, ...]] = set()
        for entry in self._waiting:
            key = _key_of(entry[0])
            if len(taken) >= MAX_BATCH or (key is not None and key in keys):
                later.append(entry)
                continue
            if key is not None:
                keys.add(key)
            taken.append(entry)
        self._waiting = later
        return taken


def _key_of(item: Submitted) -> tuple[str, ...] | None:
    claim = item.state.get(idempotency.STATE_KEY)
    if claim is None:
        return None
    return (claim.fields["scope"], claim.fields["key"])


_desks: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, ChangeDesk]] = WeakKeyDictionary()


def desk_for(db: Database) -> ChangeDesk:
    """This event loop's desk for the database (created at first use)."""
    per_loop = _desks.setdefault(asyncio.get_running_loop(), {})
    desk = per_loop.get(id(db))
    if desk is None or desk.db is not db:
        desk = per_loop[id(db)] = ChangeDesk(db)
    return desk
