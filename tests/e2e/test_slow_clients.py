"""Clients that open connections and never finish a request don't starve everyone else."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx

from tests.e2e.conftest import Server

HOLDERS = 200


def test_half_sent_requests_do_not_block_others(server: Server) -> None:
    where = urlsplit(server.url)
    held: list[socket.socket] = []
    try:
        for _ in range(HOLDERS):
            sock = socket.create_connection((where.hostname, where.port), timeout=5)
            sock.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: flywheel\r\nX-Slow: ")  # never ends
            held.append(sock)
        # Starved, this would time out (httpx raises); served, it answers as usual.
        answer = httpx.get(f"{server.url}/api/v1/me", headers=server.headers, timeout=15)
        assert answer.status_code == 200 and answer.json()["username"] == "admin"
    finally:
        for sock in held:
            sock.close()
