"""The demo storefront: a small real web shop served by uvicorn, the service the demo deploys.

Run: `python -m flywheel.demo.storefront --host 127.0.0.1 --port 8001 --version 1.0.0`.
uvicorn handles SIGTERM gracefully: it stops accepting, lets in-flight requests finish and
closes idle keep-alive connections. `--fail-rate 0.2` answers 500 to every fifth request
(except `/healthz`, unless `--fail-health`), so only traffic analysis catches the fault.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

PRODUCTS: tuple[dict[str, Any], ...] = (
    {"id": 1, "name": "Espresso beans, 1 kg", "price_cents": 2490},
    {"id": 2, "name": "Pour-over kettle", "price_cents": 5900},
    {"id": 3, "name": "Ceramic dripper", "price_cents": 2200},
    {"id": 4, "name": "Paper filters (100)", "price_cents": 650},
    {"id": 5, "name": "Burr grinder", "price_cents": 14900},
)
PRODUCT_IDS = {p["id"] for p in PRODUCTS}
MAX_SLOW_S = 10.0


@dataclass
class Faults:
    """Which requests fail: an exact share of them, spread evenly (deterministic)."""

    fail_rate: float = 0.0
    fail_health: bool = False
    _count: itertools.count[int] = field(default_factory=itertools.count)

    def should_fail(self) -> bool:
        """True for fail_rate of the calls: call n fails when floor(n * rate) steps up."""
        if self.fail_rate <= 0:
            return False
        n = next(self._count)
        return int((n + 1) * self.fail_rate) > int(n * self.fail_rate)


@dataclass
class Shop:
    """The state of one storefront process."""

    version: str
    faults: Faults
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    carts: dict[str, dict[int, int]] = field(default_factory=dict)


def _failure() -> JSONResponse:
    return JSONResponse({"error": "injected failure"}, status_code=500)


def create_app(shop: Shop) -> Starlette:
    """The storefront's ASGI app for one shop state."""
    headers = {"x-storefront-version": shop.version}

    async def index(request: Request) -> Response:
        if shop.faults.should_fail():
            return _failure()
        rows = "".join(
            f"<li>{html.escape(p['name'])} — {p['price_cents'] / 100:.2f} €</li>" for p in PRODUCTS
        )
        page = (
            f"<!doctype html><html><head><title>Storefront {html.escape(shop.version)}</title>"
            f"</head><body><h1>Storefront</h1><ul>{rows}</ul></body></html>"
        )
        return HTMLResponse(page, headers=headers)

    async def products(request: Request) -> Response:
        if shop.faults.should_fail():
            return _failure()
        return JSONResponse({"products": PRODUCTS}, headers=headers)

    async def add_to_cart(request: Request) -> Response:
        if shop.faults.should_fail():
            return _failure()
        try:
            body = await request.json()
            product_id, quantity = int(body["product_id"]), int(body.get("quantity", 1))
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "send {product_id, quantity}"}, status_code=422)
        if product_id not in PRODUCT_IDS or not 1 <= quantity <= 100:
            return JSONResponse({"error": "unknown product or bad quantity"}, status_code=422)
        cart_id = request.cookies.get("cart") or os.urandom(8).hex()
        cart = shop.carts.setdefault(cart_id, {})
        cart[product_id] = cart.get(product_id, 0) + quantity
        response = JSONResponse({"cart": cart_id, "items": cart}, headers=headers)
        response.set_cookie("cart", cart_id, httponly=True)
        return response

    async def slow(request: Request) -> Response:
        try:
            seconds = min(float(request.query_params.get("seconds", "1")), MAX_SLOW_S)
        except ValueError:
            return JSONResponse({"error": "seconds must be a number"}, status_code=422)
        await asyncio.sleep(max(seconds, 0.0))
        return JSONResponse({"slept": seconds}, headers=headers)

    async def healthz(request: Request) -> Response:
        if shop.faults.fail_health and shop.faults.should_fail():
            return _failure()
        return JSONResponse({"status": "ok"}, headers=headers)

    async def version(request: Request) -> Response:
        body = {"version": shop.version, "pid": os.getpid(), "started_at": shop.started_at}
        return JSONResponse(body, headers=headers)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/products", products),
            Route("/api/cart", add_to_cart, methods=["POST"]),
            Route("/api/slow", slow),
            Route("/healthz", healthz),
            Route("/version", version),
        ]
    )


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m flywheel.demo.storefront")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", required=True, help="the version this instance reports")
    parser.add_argument("--fail-rate", type=_share, default=0.0, help="share of requests → 500")
    parser.add_argument("--fail-health", action="store_true", help="let /healthz fail too")
    parser.add_argument("--startup-delay", type=float, default=0.0, help="seconds before listening")
    parser.add_argument("--graceful-timeout", type=int, default=30, help="seconds for in-flight")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the storefront until SIGTERM/SIGINT."""
    args = parse_args(argv)
    if args.startup_delay > 0:
        time.sleep(args.startup_delay)
    shop = Shop(args.version, Faults(args.fail_rate, args.fail_health))
    uvicorn.run(
        create_app(shop),
        host=args.host,
        port=args.port,
        access_log=False,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=args.graceful_timeout,
        server_header=False,
    )


if __name__ == "__main__":
    main()
