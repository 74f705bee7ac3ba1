"""A lean HTTP/1.1 keep-alive client for load generators.

httpx's AsyncClient spends ~10 ms of CPU per request with 50 connections on the 2-core
reference machine (measured against `/healthz`, where wrk gets 460/s from the same
server), so a benchmark driving it measures its own client. This one writes a request
in one `write` and reads the answer with two stream reads: tens of microseconds.
It speaks only what the benchmarks send: JSON bodies, Content-Length answers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


class HttpError(Exception):
    """The connection broke or the server answered something this client cannot read."""


class Connection:
    """One keep-alive connection to a server; one request at a time."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        common = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        self._common = "".join(f"{k}: {v}\r\n" for k, v in common.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is not None and self._reader.at_eof():
            await self.close()  # the server closed it while idle (uvicorn: after 5 s)
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def connect(self) -> None:
        """Open the connection now rather than at the first request."""
        await self._open()

    async def close(self) -> None:
        """Close the connection (a new request opens another)."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send one request; (status, decoded JSON body or None)."""
        payload = b"" if body is None else json.dumps(body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"{method} {self.prefix}{path} HTTP/1.1\r\n{self._common}{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        reader, writer = await self._open()
        try:
            writer.write(head.encode("latin-1") + payload)
            status, length, closing = _parse_head(await reader.readuntil(b"\r\n\r\n"))
            raw = await reader.readexactly(length) if length else b""
        except HttpError:
            await self.close()  # the rest of that answer would be read as the next one's
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            await self.close()
            raise HttpError(type(exc).__name__) from exc
        if closing:
            await self.close()
        return status, _decode(raw)


def _decode(raw: bytes) -> Any:
    """The JSON of a body; None when empty or not JSON (a proxy's or server's plain-text error)."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """(status, Content-Length, whether the server closes the connection) of a response."""
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise HttpError(f"bad status line {lines[0]!r}") from exc
    length, closing = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        lowered = name.strip().lower()
        if lowered == "content-length":
            if not value.strip().isdigit():
                raise HttpError(f"bad Content-Length {value.strip()!r}")
            length = int(value.strip())
        elif lowered == "connection" and value.strip().lower() == "close":
            closing = True
        elif lowered == "transfer-encoding":
            raise HttpError("chunked answers are not supported")
    return status, length, closing
