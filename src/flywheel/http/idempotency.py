"""Idempotency-Key: a retried write gets the first answer again instead of acting twice.

A key is scoped to the credentials that sent it. The first request with a key
claims it; a retry with the same key and body gets the stored response (with
`Idempotent-Replayed: true`); the same key with a different body is a 422; a
retry while the first is still running is a 409. Failed requests (4xx/5xx)
release the key so the client can fix the request and try again. A claim left
by a crashed process expires after CLAIM_TIMEOUT. A claim is one INSERT … ON
CONFLICT DO NOTHING; keys older than KEEP_FOR are purged every PURGE_EVERY.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flywheel.db import Database, utcnow
from flywheel.http.errors import error_response
from flywheel.http.models import IdempotencyKey

HEADER = b"idempotency-key"
CLAIM_TIMEOUT = timedelta(seconds=60)
KEEP_FOR = timedelta(hours=24)
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


PURGE_EVERY = timedelta(minutes=5)
_last_purge: dict[str, datetime] = {}


def _insert_claim(session: Session, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING: whether this request now holds the key."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(IdempotencyKey).values(**values).on_conflict_do_nothing()
    inserted = session.execute(statement.returning(IdempotencyKey.key)).first()
    return inserted is not None


def purge_expired(db: Database, *, now: datetime, force: bool = False) -> int:
    """Delete keys older than KEEP_FOR, at most once per PURGE_EVERY per process (or now)."""
    last = _last_purge.get(db.url)
    if not force and last is not None and now - last < PURGE_EVERY:
        return 0
    _last_purge[db.url] = now
    with db.session(write=True) as session:
        gone = session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < now - KEEP_FOR)
        )
        session.commit()
    return int(gone.rowcount)  # type: ignore[attr-defined]


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

    async def run(
        self, app: ASGIApp, scope: Scope, body: bytes, receive: Receive, send: Send
    ) -> None:
        existing = await anyio.to_thread.run_sync(self._claim_or_find)
        if existing is not None:
            await self._answer_existing(existing, scope, receive, send)
            return
        replay_body = [body]

        async def replay_receive() -> Message:
            if replay_body:
                return {"type": "http.request", "body": replay_body.pop(), "more_body": False}
            return await receive()

        captured: dict[str, Any] = {"status": 500, "type": None, "body": []}

        async def capturing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["type"] = dict(message.get("headers", [])).get(b"content-type")
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await app(scope, replay_receive, capturing_send)
        finally:
            await anyio.to_thread.run_sync(self._settle, captured)

    def _claim_or_find(self) -> IdempotencyKey | None:
        now = utcnow()
        purge_expired(self.db, now=now)
        ident = (self.fields["scope"], self.fields["key"])
        with self.db.session(write=True) as session:
            if _insert_claim(session, {**self.fields, "created_at": now}):
                session.commit()
                return None
            row = session.get(IdempotencyKey, ident)
            if row is None:  # released between our insert and read: claim it now
                session.add(IdempotencyKey(**self.fields, created_at=now))
            elif row.response_status is None and row.created_at < now - CLAIM_TIMEOUT:
                # Abandoned by a crashed process: take the claim over.
                row.created_at = now
                for name, value in self.fields.items():
                    setattr(row, name, value)
            else:
                session.commit()
                return row
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return session.get(IdempotencyKey, ident)
        return None

    async def _answer_existing(
        self, row: IdempotencyKey, scope: Scope, receive: Receive, send: Send
    ) -> None:
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
        mine = (IdempotencyKey.scope == self.fields["scope"]) & (
            IdempotencyKey.key == self.fields["key"]
        )
        if 200 <= captured["status"] < 300:
            content_type = captured["type"].decode("latin-1") if captured["type"] else None
            statement: Any = (
                update(IdempotencyKey)
                .where(mine)
                .values(
                    response_status=captured["status"],
                    response_type=content_type,
                    response_body=b"".join(captured["body"]),
                )
            )
        else:
            statement = delete(IdempotencyKey).where(mine)
        with self.db.session(write=True) as session:
            session.execute(statement)
            session.commit()


__all__ = ["IdempotencyMiddleware"]
