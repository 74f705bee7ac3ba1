"""Real receivers for notification tests: a local HTTP webhook server and an SMTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as Mail
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.support import free_port


@dataclass
class Received:
    """One request the webhook server got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class Hook:
    """A local HTTP server recording POSTs; answers `status` after `delay_s`."""

    port: int
    status: int = 200
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        """The URL of a path on this server."""
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(hook: Hook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hook.received.append(Received(self.path, dict(self.headers.items()), body))
            if hook.delay_s:
                time.sleep(hook.delay_s)
            try:
                self.send_response(hook.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client gave up (a timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def webhook_server(status: int = 200, delay_s: float = 0.0) -> Iterator[Hook]:
    """A running webhook server for the block."""
    hook = Hook(free_port(), status, delay_s)
    server = ThreadingHTTPServer(("127.0.0.1", hook.port), _handler(hook))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], Mail]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        mail = message_from_bytes(envelope.content)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), mail))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[tuple[str, list[str], Mail]]]]:
    """A real SMTP server (aiosmtpd) for the block: (port, received mails)."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox.mails
    finally:
        controller.stop()
