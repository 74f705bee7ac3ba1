"""ASGI middleware: request ids and a cap on request body size."""

from __future__ import annotations

import logging
import re

import anyio
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flywheel.context import new_request_id, request_id_var
from flywheel.http.errors import error_response

log = logging.getLogger("flywheel.http")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Give each request an id (the caller's X-Request-ID if sane) for logs and the audit trail."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _VALID_REQUEST_ID.match(given) else new_request_id()
        id_header = (b"x-request-id", request_id.encode())
        token = request_id_var.set(request_id)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"].append(id_header)
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            # Answer here, while the request id is still known, rather than in Starlette's
            # outermost handler; never leak a traceback to the client.
            log.exception("unexpected error")
            if not started:
                body = "internal error; quote the request id"
                await error_response(500, "internal_error", body)(scope, receive, tracking_send)
        finally:
            request_id_var.reset(token)


class _TooLarge(HTTPException):
    """Raised mid-read; an HTTPException so FastAPI's body parsing passes it through."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body exceeds {max_bytes} bytes")


class BodySizeLimitMiddleware:
    """Refuse bodies over the limit with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body exceeds {self.max_bytes} bytes"
        await error_response(413, "payload_too_large", message)(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


# Writes that queue on the event loop by themselves and commit in batches on a thread of
# their own (change.decisions): the gate would let only one of them wait at a time.
BATCHED_WRITES = frozenset({("POST", "/api/v1/changes")})


class SqliteWriteGate:
    """On SQLite, let one write request at a time into the thread pool of this process.

    SQLite has one writer; requests waiting for it should queue on the event loop,
    not occupy every worker thread in the busy handler while the request holding the
    lock waits for a thread to finish in. Batched writes pass (BATCHED_WRITES).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.lock = anyio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if (scope["method"], scope["path"]) in BATCHED_WRITES:
            await self.app(scope, receive, send)
            return
        if scope["app"].state.db.dialect != "sqlite":
            await self.app(scope, receive, send)
            return
        async with self.lock:
            await self.app(scope, receive, send)
