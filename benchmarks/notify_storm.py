"""Alert intake while every incident pages a dead endpoint (issue 7, escalation part).

Starts `flywheel serve` (its escalation worker on, every 0.2 s) twice per backend: once with
no escalation policy ("quiet"), once with a default policy paging the admin through a JSON
webhook that hangs for --hang-s while Flywheel gives up after --timeout-s ("paging"). Each
run posts BATCHES Alertmanager batches of 100 alerts from CLIENTS concurrent clients; every
batch opens OPENS new incidents, so the paging run queues a delivery per incident while the
storm goes on. Prints one JSON line: alerts/s and p50/p99 request latency of both runs, and
how many deliveries the worker had tried (and timed out on) by the end of the storm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from change_decisions import (
    DEFAULT_POSTGRES,
    Server,
    free_port,
    percentile,
    progress,
    running_server,
    scratch_database,
    source_revision,
)


class _Hang(BaseHTTPRequestHandler):
    hang_s = 3.0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.hang_s)
        try:
            self.send_response(200)
            self.end_headers()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def hanging_endpoint(hang_s: float) -> Iterator[str]:
    """A webhook that answers only after hang_s seconds."""
    _Hang.hang_s = hang_s
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Hang)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def _alert(fingerprint: str, service: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "Down", "service": service, "instance": f"{service}-1"},
        "annotations": {"summary": "down"},
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
    }


def _batch(number: int, opens: int, services: int) -> dict[str, Any]:
    def service(i: int) -> str:
        return f"svc-{i % services}" if services else f"svc-{number}-{i % opens}"

    alerts = [_alert(f"b{number}-{i}", service(i)) for i in range(100)]
    return {"version": "4", "groupKey": f"g{number}", "status": "firing", "alerts": alerts}


def _setup(server: Server, hook: str | None) -> str:
    with httpx.Client(
        base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {server.token}"}
    ) as api:
        token = str(api.post("/integrations", json={"name": "am"}).json()["token"])
        if hook is not None:
            api.post("/users/admin/contact-methods", json={"channel": "webhook", "address": hook})
            steps = [{"targets": [{"kind": "user", "ref": "admin"}], "wait_minutes": 1}]
            made = api.post(
                "/escalation-policies",
                json={"key": "all", "name": "all", "default": True, "steps": steps},
            )
            made.raise_for_status()
    return token


async def _storm(
    server: Server, token: str, batches: int, clients: int, opens: int, services: int
) -> tuple[list[float], float]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(batches):
        queue.put_nowait(number)
    latencies: list[float] = []
    url = f"{server.url}/api/v1/integrations/alertmanager?token={token}"

    async def client() -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            while not queue.empty():
                number = queue.get_nowait()
                began = time.perf_counter()
                answer = await http.post(url, json=_batch(number, opens, services))
                answer.raise_for_status()
                latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, time.perf_counter() - began


def _deliveries(server: Server) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {server.token}"}
    found = httpx.get(f"{server.url}/api/v1/notifications?limit=500", headers=headers).json()[
        "items"
    ]
    tried = [d for d in found if d["attempts"] > 0]
    timed_out = [d for d in found if (d["last_error"] or "").startswith("timed out")]
    return {"deliveries_listed": len(found), "tried": len(tried), "timed_out": len(timed_out)}


def run(backend: str, args: argparse.Namespace, paging: bool) -> dict[str, Any]:
    """One storm on a fresh database, with or without paging."""
    with (
        scratch_database(backend, args.postgres_url) as url,
        tempfile.TemporaryDirectory() as home,
        hanging_endpoint(args.hang_s) as hook,
        running_server(url, Path(home), 1) as server,
    ):
        token = _setup(server, hook if paging else None)
        latencies, seconds = asyncio.run(
            _storm(server, token, args.batches, args.clients, args.opens, args.services)
        )
        result: dict[str, Any] = {
            "alerts_per_s": round(args.batches * 100 / seconds),
            "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99),
            "max_ms": round(max(latencies), 1),
            "incidents": args.services or args.batches * args.opens,
        }
        if paging:
            result |= _deliveries(server)
    progress(f"{backend} {'paging' if paging else 'quiet'}: {json.dumps(result)}")
    return result


def _load() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--opens", type=int, default=5, help="new incidents per batch")
    parser.add_argument(
        "--services",
        type=int,
        default=0,
        help="alerts spread over this many services (0: new ones)",
    )
    parser.add_argument("--hang-s", type=float, default=3.0)
    parser.add_argument("--timeout-s", type=float, default=1.0)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    os.environ["FLYWHEEL_NOTIFY_WORKER_INTERVAL_S"] = "0.2"
    os.environ["FLYWHEEL_NOTIFY_TIMEOUT_S"] = str(args.timeout_s)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    out: dict[str, Any] = {
        "source": source_revision(),
        "loadavg_before": _load(),
    }
    for backend in backends:
        out[backend] = {"quiet": run(backend, args, False), "paging": run(backend, args, True)}
    out["loadavg_after"] = _load()
    print(json.dumps(out), file=sys.stdout)


if __name__ == "__main__":
    main()
