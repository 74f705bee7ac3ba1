"""Idempotency-Key: a retried write gets the first answer again instead of acting twice.

A key is scoped to the credentials that sent it. The first request with a key
claims it; a retry with the same key and body gets the stored response (with
`Idempotent-Replayed: true`); the same key with a different body is a 422; a
retry while the first is still running is a 409. Failed requests (4xx/5xx)
release the key so the client can fix the request and try again. A claim left
by a crashed process expires after CLAIM_TIMEOUT. Keys older than KEEP_FOR are
purged every PURGE_EVERY.

The claim is one INSERT … ON CONFLICT DO NOTHING in the request's own write
transaction, made when that transaction begins (`watch`, from the request's session
dependency), so it commits, or rolls back, with what the request did; its answer is
stored just after. Change decisions claim and answer inside their batch's transaction
(`take_claims`, `store_answers`). A write request that commits no claim of its own gets
its 2xx answer stored afterwards, unclaimed.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import Connection, bindparam, delete, event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flywheel.db import Database, utcnow
from flywheel.http.errors import error_response
from flywheel.http.models import IdempotencyKey

HEADER = b"idempotency-key"
CLAIM_TIMEOUT = timedelta(seconds=60)
KEEP_FOR = timedelta(hours=24)
PURGE_EVERY = timedelta(minutes=5)
STATE_KEY = "idempotency_claim"
PENDING, HELD, COMMITTED = "pending", "held", "committed"  # a claim's life
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_last_purge: dict[str, datetime] = {}


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _insert_claim(on: Session | Connection, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING: whether this request now holds the key."""
    dialect = on.get_bind().dialect.name if isinstance(on, Session) else on.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(IdempotencyKey).values(**values).on_conflict_do_nothing()
    inserted = on.execute(statement.returning(IdempotencyKey.key)).first()
    return inserted is not None


def _purge_due(db: Database, now: datetime) -> bool:
    last = _last_purge.get(db.url)
    return last is None or now - last >= PURGE_EVERY


def purge_expired(db: Database, *, now: datetime, force: bool = False) -> int:
    """Delete keys older than KEEP_FOR, at most once per PURGE_EVERY per process (or now)."""
    if not force and not _purge_due(db, now):
        return 0
    _last_purge[db.url] = now
    with db.session(write=True) as session:
        gone = session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < now - KEEP_FOR)
        )
        session.commit()
    return int(gone.rowcount)  # type: ignore[attr-defined]


class KeyInUse(Exception):
    """The key is held by an earlier request: answer from its row, do not run this one."""

    def __init__(self, row: Any) -> None:
        super().__init__("idempotency key in use")
        self.row = row


def watch(state: dict[str, Any], session: Session) -> None:
    """Claim the request's Idempotency-Key (if any) when `session` begins its transaction.

    Not earlier: until the endpoint runs, other dependencies (the caller's token) may
    need a connection of their own, and this one would be held while they wait for it.
    """
    claim: _Claim | None = state.get(STATE_KEY)
    if claim is not None:
        session.info[STATE_KEY] = claim


@event.listens_for(Session, "after_begin")
def _claim_at_begin(session: Session, _transaction: Any, connection: Connection) -> None:
    claim: _Claim | None = session.info.get(STATE_KEY)
    if claim is not None and claim.state == PENDING:
        claim.take(connection)


@event.listens_for(Session, "after_commit")
def _claim_committed(session: Session) -> None:
    claim: _Claim | None = session.info.get(STATE_KEY)
    if claim is not None and claim.state == HELD:
        claim.state = COMMITTED


@event.listens_for(Session, "after_rollback")
def _claim_rolled_back(session: Session) -> None:
    claim: _Claim | None = session.info.get(STATE_KEY)
    if claim is not None and claim.state == HELD:
        claim.state, claim.settled = PENDING, False


def take_claims(states: list[dict[str, Any]], connection: Connection) -> None:
    """Hold the keys of a batch's requests with one INSERT; a key in use stays pending."""
    pending = [
        c for c in (s.get(STATE_KEY) for s in states) if c is not None and c.state == PENDING
    ]
    # In key order: two batches claiming the same keys wait for each other, never in a cycle.
    pending.sort(key=lambda c: (c.fields["scope"], c.fields["key"]))
    if not pending:
        return
    now = utcnow()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(IdempotencyKey)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.scope, IdempotencyKey.key)
    )
    rows = connection.execute(statement, [{**c.fields, "created_at": now} for c in pending])
    taken = {(row.scope, row.key) for row in rows}
    for claim in pending:
        if (claim.fields["scope"], claim.fields["key"]) in taken:
            claim.state = HELD


def take_claim(state: dict[str, Any], connection: Connection) -> _Claim | None:
    """A request's key held in a batch's transaction (raises KeyInUse); None without a key."""
    claim: _Claim | None = state.get(STATE_KEY)
    if claim is None:
        return None
    if claim.state == PENDING:  # not taken by take_claims: in use, released, or abandoned
        claim.take(connection)
    return claim if claim.state == HELD else None


def drop_claim(claim: _Claim, connection: Connection) -> None:
    """Give a key back within the batch: its request failed, as if it had rolled back."""
    connection.execute(delete(IdempotencyKey).where(claim._mine()))
    claim.state = PENDING


_STORE_ANSWER = (
    update(IdempotencyKey)
    .where(IdempotencyKey.scope == bindparam("b_scope"), IdempotencyKey.key == bindparam("b_key"))
    .values(
        response_status=bindparam("b_status"),
        response_type=bindparam("b_type"),
        response_body=bindparam("b_body"),
    )
)


def store_answers(
    connection: Connection, answers: list[tuple[_Claim, int, bytes]], content_type: str
) -> None:
    """Store the 2xx answers of a batch's held keys, in its transaction (one statement)."""
    if not answers:
        return
    rows = [
        {"b_scope": c.fields["scope"], "b_key": c.fields["key"], "b_status": status}
        | {"b_type": content_type, "b_body": body}
        for c, status, body in answers
    ]
    connection.execute(_STORE_ANSWER, rows)
    for claim, _, _ in answers:
        claim.settled = True


def batch_ended(claims: list[_Claim], *, committed: bool) -> None:
    """After a batch's commit or rollback: what a request session's events would record."""
    for claim in claims:
        if claim.state != HELD:
            continue
        if committed:
            claim.state = COMMITTED
        else:
            claim.state, claim.settled = PENDING, False


class IdempotencyMiddleware:
    """Replays the stored answer for write requests that repeat an Idempotency-Key."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope) if scope["type"] == "http" else {}
        raw_key = headers.get(HEADER)
        if raw_key is None or scope["method"] not in _WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not 1 <= len(key) <= 200:
            await error_response(422, "invalid_input", "Idempotency-Key must be 1-200 characters")(
                scope, receive, send
            )
            return
        body = await _read_body(receive)
        claim = _Claim(
            db=scope["app"].state.db,
            scope=hashlib.sha256(headers.get(b"authorization", b"")).hexdigest(),
            key=key,
            method=scope["method"],
            path=scope["path"],
            request_hash=hashlib.sha256(body).hexdigest(),
        )
        await claim.run(self.app, scope, body, receive, send)


class _Claim:
    """One request's hold on an idempotency key."""

    def __init__(self, *, db: Database, **fields: str) -> None:
        self.db = db
        self.fields = fields
        self.state = PENDING
        self.settled = False

    def take(self, connection: Connection) -> None:
        """Hold the key in the connection's transaction, or raise KeyInUse with its row."""
        now = utcnow()
        if _insert_claim(connection, {**self.fields, "created_at": now}):
            self.state = HELD
            return
        row = connection.execute(select(IdempotencyKey.__table__).where(self._mine())).first()
        if row is None:  # released between our insert and read: claim it now
            if _insert_claim(connection, {**self.fields, "created_at": now}):
                self.state = HELD
                return
            row = connection.execute(select(IdempotencyKey.__table__).where(self._mine())).first()
        abandoned = (
            update(IdempotencyKey)
            .where(self._mine(), IdempotencyKey.response_status.is_(None))
            .where(IdempotencyKey.created_at < now - CLAIM_TIMEOUT)
            .values(**self.fields, created_at=now)
        )
        if row is not None and connection.execute(abandoned).rowcount == 1:
            self.state = HELD  # left by a crashed process: taken over
            return
        raise KeyInUse(row if row is not None else IdempotencyKey(**self.fields))

    def store(self, status: int, content_type: str | None, body: bytes) -> Any:
        """The UPDATE that records the answer on the claimed row."""
        return (
            update(IdempotencyKey)
            .where(self._mine())
            .values(response_status=status, response_type=content_type, response_body=body)
        )

    def _mine(self) -> Any:
        return (IdempotencyKey.scope == self.fields["scope"]) & (
            IdempotencyKey.key == self.fields["key"]
        )

    async def run(
        self, app: ASGIApp, scope: Scope, body: bytes, receive: Receive, send: Send
    ) -> None:
        if _purge_due(self.db, utcnow()):
            await anyio.to_thread.run_sync(lambda: purge_expired(self.db, now=utcnow()))
        scope.setdefault("state", {})[STATE_KEY] = self
        replay_body = [body]

        async def replay_receive() -> Message:
            if replay_body:
                return {"type": "http.request", "body": replay_body.pop(), "more_body": False}
            return await receive()

        captured: dict[str, Any] = {"status": 500, "type": None, "body": [], "started": False}

        async def capturing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["started"] = True
                captured["status"] = message["status"]
                captured["type"] = dict(message.get("headers", [])).get(b"content-type")
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await app(scope, replay_receive, capturing_send)
        except KeyInUse as used:
            if captured["started"]:
                raise
            await self._answer_existing(used.row, scope, receive, send)
            return
        finally:
            if not self.settled:
                await anyio.to_thread.run_sync(self._settle, captured)

    async def _answer_existing(self, row: Any, scope: Scope, receive: Receive, send: Send) -> None:
        same = (row.method, row.path, row.request_hash) == (
            self.fields["method"],
            self.fields["path"],
            self.fields["request_hash"],
        )
        if not same:
            message = "this Idempotency-Key was used for a different request"
            await error_response(422, "idempotency_key_reused", message)(scope, receive, send)
        elif row.response_status is None:
            message = "a request with this Idempotency-Key is still in progress; retry later"
            await error_response(409, "idempotency_in_progress", message)(scope, receive, send)
        else:
            headers = [(b"idempotent-replayed", b"true")]
            if row.response_type:
                headers.append((b"content-type", row.response_type.encode("latin-1")))
            await send(
                {"type": "http.response.start", "status": row.response_status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": row.response_body or b""})

    def _settle(self, captured: dict[str, Any]) -> None:
        """After the request: store a 2xx answer, or release a key a failure left claimed."""
        succeeded = 200 <= captured["status"] < 300
        if self.state != COMMITTED and not succeeded:
            return  # nothing was claimed, or the claim rolled back with the request
        content_type = captured["type"].decode("latin-1") if captured["type"] else None
        answer = b"".join(captured["body"])
        with self.db.session(write=True) as session:
            if self.state != COMMITTED:  # the request committed no claim: record it now
                answered = {"response_status": captured["status"], "response_type": content_type}
                values = {**self.fields, **answered, "response_body": answer}
                _insert_claim(session, {**values, "created_at": utcnow()})
            elif succeeded:
                session.execute(self.store(captured["status"], content_type, answer))
            else:
                session.execute(delete(IdempotencyKey).where(self._mine()))
            session.commit()


__all__ = [
    "IdempotencyMiddleware",
    "KeyInUse",
    "batch_ended",
    "drop_claim",
    "store_answers",
    "take_claim",
    "take_claims",
    "watch",
]
