"""Real local HTTP servers for probe tests: healthy, failing with 500, or hanging."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import free_port

HANG_S = 3.0


@dataclass
class Target:
    """A running server; set `mode` to change how it answers ("ok", "fail", "hang")."""

    port: int
    mode: str
    hits: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/status"


def _handler(target: Target) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, with_body: bool) -> None:
            target.hits += 1
            if target.mode == "hang":
                time.sleep(HANG_S)
            code = 500 if target.mode == "fail" else 200
            body = b"storefront healthy" if code == 200 else b"internal error"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer(True)

        def do_HEAD(self) -> None:
            self._answer(False)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextlib.contextmanager
def serving(mode: str) -> Iterator[Target]:
    """A server answering in `mode` on a free loopback port; stopped afterwards."""
    target = Target(free_port(), mode)
    server = ThreadingHTTPServer(("127.0.0.1", target.port), _handler(target))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield target
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
