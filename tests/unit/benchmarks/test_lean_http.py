"""The lean HTTP/1.1 client against a scripted in-process server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lean_http import Connection, HttpError

JSON_OK = "json"


def answer(status: int, body: bytes, extra: str = "") -> bytes:
    """A raw HTTP/1.1 answer with Content-Length."""
    head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


class Scripted:
    """A server that answers the n-th request with script[n]: raw bytes, 'json' (an echo),
    'drop' (closes without answering) or 'idle-close' (answers, then closes the connection)."""

    def __init__(self, script: list[str | bytes]) -> None:
        self.script, self.served, self.connections = script, 0, 0
        self.seen: list[tuple[str, dict[str, str], Any]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve requests on one connection as the script says."""
        self.connections += 1
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
                headers = dict(line.split(": ", 1) for line in head[1:] if line)
                raw = await reader.readexactly(int(headers.get("Content-Length", "0")))
                self.seen.append((head[0], headers, json.loads(raw) if raw else None))
                step = self.script[self.served]
                self.served += 1
                if step == "drop":
                    break
                echo = json.dumps({"got": self.seen[-1][2]}).encode()
                writer.write(step if isinstance(step, bytes) else answer(201, echo))
                await writer.drain()
                if step == "idle-close":
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()


def serve(
    script: list[str | bytes], client: Callable[[Connection], Awaitable[Any]]
) -> tuple[Any, Scripted]:
    """Run `client` against a scripted server; its result and the server."""
    server = Scripted(script)

    async def main() -> Any:
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        conn = Connection(f"http://127.0.0.1:{port}/api/v1", {"Authorization": "Bearer t"})
        try:
            return await client(conn)
        finally:
            await conn.close()
            listener.close()

    return asyncio.run(main()), server


def test_requests_share_one_keep_alive_connection() -> None:
    async def client(conn: Connection) -> list[tuple[int, Any]]:
        return [
            await conn.request("POST", "/changes", {"n": n}, {"Idempotency-Key": "k"})
            for n in range(3)
        ]

    answers, server = serve([JSON_OK] * 3, client)
    assert answers == [(201, {"got": {"n": n}}) for n in range(3)]
    assert server.connections == 1
    line, headers, _ = server.seen[0]
    assert line == "POST /api/v1/changes HTTP/1.1"
    assert headers["Authorization"] == "Bearer t"
    assert headers["Idempotency-Key"] == "k"


def test_a_connection_the_server_closed_while_idle_is_opened_again() -> None:
    async def client(conn: Connection) -> list[tuple[int, Any]]:
        first = await conn.request("POST", "/a", {"n": 1})
        await asyncio.sleep(0.05)  # the server's close arrives while the connection is idle
        return [first, await conn.request("POST", "/b", {"n": 2})]

    answers, server = serve(["idle-close", JSON_OK], client)
    assert answers == [(201, {"got": {"n": 1}}), (201, {"got": {"n": 2}})]
    assert server.connections == 2


def test_a_plain_text_error_gives_its_status_and_no_body() -> None:
    async def client(conn: Connection) -> list[tuple[int, Any]]:
        return [await conn.request("POST", "/a", {}), await conn.request("POST", "/b", {"n": 2})]

    answers, server = serve([answer(500, b"Internal Server Error"), JSON_OK], client)
    assert answers == [(500, None), (201, {"got": {"n": 2}})]
    assert server.connections == 1


@pytest.mark.parametrize(
    "unreadable",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n{}",
        b"garbage\r\n\r\n",
    ],
)
def test_an_unreadable_answer_raises_and_the_next_request_gets_a_clean_connection(
    unreadable: bytes,
) -> None:
    async def client(conn: Connection) -> tuple[str, tuple[int, Any]]:
        with pytest.raises(HttpError) as raised:
            await conn.request("POST", "/a", {})
        return str(raised.value), await conn.request("POST", "/b", {"n": 2})

    (error, after), server = serve([unreadable, JSON_OK], client)
    assert error
    assert after == (201, {"got": {"n": 2}})
    assert server.connections == 2


def test_a_connection_dropped_before_the_answer_raises_http_error() -> None:
    async def client(conn: Connection) -> str:
        with pytest.raises(HttpError) as raised:
            await conn.request("POST", "/a", {})
        return str(raised.value)

    error, _ = serve(["drop"], client)
    assert error == "IncompleteReadError"
