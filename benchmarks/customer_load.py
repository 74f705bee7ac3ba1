"""Customers in a separate process: a steady request rate through the load balancer.

Half the threads keep one connection alive, half open a new connection per request. Every
answer is recorded with its time, so failures can be counted per phase afterwards.
"""

from __future__ import annotations

import http.client
import multiprocessing as mp
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType

PATHS = ("/api/products", "/", "/api/products")


def _one(conn: http.client.HTTPConnection, path: str) -> bool:
    conn.request("GET", path)
    answer = conn.getresponse()
    answer.read()
    return 200 <= answer.status < 300


def _customer(
    port: int, keep_alive: bool, interval_s: float, stop: EventType, out: list[tuple[float, bool]]
) -> None:
    conn: http.client.HTTPConnection | None = None
    next_at, n = time.monotonic(), 0
    while not stop.is_set():
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            ok = _one(conn, PATHS[n % len(PATHS)])
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = None
        out.append((time.time(), ok))
        n += 1
        if not keep_alive and conn is not None:
            conn.close()
            conn = None
        next_at += interval_s
        time.sleep(max(0.0, next_at - time.monotonic()))


def _run(port: int, rate: float, threads: int, stop: EventType, pipe: Connection) -> None:
    results: list[list[tuple[float, bool]]] = [[] for _ in range(threads)]
    workers = [
        threading.Thread(
            target=_customer,
            args=(port, i % 2 == 0, threads / rate, stop, results[i]),
            daemon=True,
        )
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    pipe.send([item for part in results for item in part])


@dataclass
class Outcomes:
    """Every request's (time, ok), to count per time range."""

    items: list[tuple[float, bool]]

    def between(self, start: float, end: float) -> tuple[int, int]:
        """(requests, failures) answered between two wall-clock times."""
        chosen = [ok for at, ok in self.items if start <= at <= end]
        return len(chosen), sum(1 for ok in chosen if not ok)


class CustomerLoad:
    """Start customers in another process; `stop()` returns what they saw."""

    def __init__(self, port: int, *, rate: float = 400.0, threads: int = 16) -> None:
        context = mp.get_context("spawn")
        self._stop = context.Event()
        self._ours, theirs = context.Pipe()
        self._process = context.Process(
            target=_run, args=(port, rate, threads, self._stop, theirs), daemon=True
        )

    def start(self) -> CustomerLoad:
        """Begin sending requests."""
        self._process.start()
        return self

    def stop(self) -> Outcomes:
        """Stop sending and collect every answer."""
        self._stop.set()
        items = self._ours.recv()
        self._process.join(timeout=30)
        return Outcomes(sorted(items))
