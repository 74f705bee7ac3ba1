"""The demo storefront as a real uvicorn process: pages, faults and graceful shutdown."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.deploy_support import child_env, healthy, storefront, wait_until
from tests.support import free_port

# uvicorn re-raises the signal after its graceful shutdown (older versions exit 0)
GRACEFUL_EXIT = (0, -signal.SIGTERM)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), response
    finally:
        connection.close()


def test_pages_and_api() -> None:
    with storefront("2.4.1") as shop:
        status, body, response = request(shop.port, "GET", "/")
        assert status == 200
        assert b"<h1>Storefront</h1>" in body
        assert response.getheader("x-storefront-version") == "2.4.1"

        status, body, _ = request(shop.port, "GET", "/api/products")
        assert status == 200
        assert len(json.loads(body)["products"]) == 5

        status, body, _ = request(shop.port, "GET", "/version")
        info = json.loads(body)
        assert info["version"] == "2.4.1"
        assert info["pid"] == shop.process.pid
        assert info["started_at"].endswith("+00:00")

        status, body, response = request(
            shop.port, "POST", "/api/cart", json.dumps({"product_id": 2, "quantity": 3}).encode()
        )
        assert status == 200
        cart = json.loads(body)
        assert cart["items"] == {"2": 3}
        cookie = response.getheader("set-cookie", "").split(";")[0]
        status, body, _ = request(
            shop.port, "POST", "/api/cart", b'{"product_id": 2}', {"cookie": cookie}
        )
        assert json.loads(body) == {"cart": cart["cart"], "items": {"2": 4}}


def test_bad_cart_requests_are_422() -> None:
    with storefront() as shop:
        for body in (
            b"not json",
            b'{"quantity": 1}',
            b'{"product_id": 99}',
            b'{"product_id": 1, "quantity": 0}',
        ):
            status, answer, _ = request(shop.port, "POST", "/api/cart", body)
            assert status == 422, body
            assert "error" in json.loads(answer)
        assert request(shop.port, "GET", "/api/cart")[0] == 405


def test_fail_rate_fails_exactly_that_share_but_not_health() -> None:
    with storefront("9.9.9-faulty", "--fail-rate", "0.2") as shop:
        statuses = [request(shop.port, "GET", "/api/products")[0] for _ in range(50)]
        assert statuses.count(500) == 10
        assert statuses.count(200) == 40
        assert all(request(shop.port, "GET", "/healthz")[0] == 200 for _ in range(10))


def test_fail_health_lets_the_health_check_fail_too() -> None:
    with storefront("1.0", "--fail-rate", "0.5", "--fail-health") as shop:
        statuses = [request(shop.port, "GET", "/healthz")[0] for _ in range(10)]
        assert statuses.count(500) == 5


def test_sigterm_lets_an_in_flight_request_finish() -> None:
    with storefront() as shop:
        outcome: dict[str, object] = {}

        def slow_request() -> None:
            status, body, _ = request(shop.port, "GET", "/api/slow?seconds=1.0")
            outcome["status"], outcome["body"] = status, json.loads(body)

        worker = threading.Thread(target=slow_request)
        worker.start()
        time.sleep(0.3)  # the request is in flight
        shop.process.send_signal(signal.SIGTERM)
        wait_until(lambda: not healthy(shop.port), timeout_s=5, what="stop accepting")
        assert shop.process.poll() is None  # still finishing the slow request
        worker.join(timeout=5)
        assert outcome == {"status": 200, "body": {"slept": 1.0}}
        assert shop.process.wait(timeout=5) in GRACEFUL_EXIT


def test_sigterm_closes_idle_keep_alive_connections_and_exits_fast() -> None:
    with storefront() as shop:
        idle = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=5)
        idle.request("GET", "/healthz")
        idle.getresponse().read()  # the connection stays open, idle
        started = time.monotonic()
        shop.process.send_signal(signal.SIGTERM)
        assert shop.process.wait(timeout=5) in GRACEFUL_EXIT
        assert time.monotonic() - started < 2.0
        idle.close()


def test_startup_delay_postpones_listening(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flywheel.demo.storefront",
            "--port",
            str(port),
            "--version",
            "1",
            "--startup-delay",
            "0.8",
        ],
        env=child_env(),
    )
    try:
        time.sleep(0.4)
        assert not healthy(port)
        wait_until(lambda: healthy(port), timeout_s=10, what="storefront after its delay")
    finally:
        process.kill()
        process.wait()


def test_bad_arguments_exit_with_usage() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flywheel.demo.storefront",
            "--port",
            "1",
            "--version",
            "1",
            "--fail-rate",
            "2",
        ],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "must be between 0 and 1" in result.stderr
