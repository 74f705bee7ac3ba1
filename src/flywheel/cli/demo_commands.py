"""`flywheel demo`: the built-in scenario — an e-commerce platform that keeps shipping.

Everything is written through Flywheel's own API, as a real installation would be: the
CMDB estate, the environments, then (unless --no-live) a live storefront pool, customers,
and a pipeline that opens a change every minute and deploys the approved ones.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

import httpx
import typer
import uvicorn

from flywheel import migrate
from flywheel.app import create_app
from flywheel.auth import service as auth_service
from flywheel.auth.roles import Role
from flywheel.auth.schemas import UserCreate
from flywheel.cli.common import cli_actor, console, err_console, settings, write_session
from flywheel.demo import estate
from flywheel.demo.live import Customers, LivePool, Pipeline
from flywheel.errors import NotFound

PEOPLE = {
    "dana": (Role.DEVELOPER, "Dana Developer"),
    "oscar": (Role.OPERATOR, "Oscar Operator"),
    "carla": (Role.CHANGE_MANAGER, "Carla Change-Manager"),
}
DEMO_POLICY = """\
description: The demo's policy - pipelines flow unless the risk model says otherwise.
mode: first_match
default: cab
rules:
  - name: pipeline-flow
    description: Normal changes that are not high risk deploy without waiting for people.
    when: {type: normal, risk_level: [low, medium]}
    then: auto_approve
  - name: risky-needs-a-change-manager
    when: {risk_level: [high, very_high]}
    then: {approve: {by: "role:change_manager", count: 1}}
"""
STOREFRONT_PORTS = [18081, 18082, 18083, 18084]
FRONTEND_PORT = 18080


def _people() -> tuple[str, str, dict[str, str]]:
    """The admin's and the pipeline's tokens, and a password for each demo person."""
    actor, passwords = cli_actor(), {}
    with write_session() as session:
        for username, (role, name) in {
            "admin": (Role.ADMIN, "Admin"),
            "pipeline": (Role.DEVELOPER, "CI pipeline"),
            **PEOPLE,
        }.items():
            try:
                auth_service.get_user(session, username=username)
            except NotFound:  # a first run
                data = UserCreate(username=username, roles=[role], full_name=name)
                auth_service.create_user(session, actor=actor, data=data)
            if username in PEOPLE or username == "admin":
                passwords[username] = secrets.token_urlsafe(9)
                auth_service.set_password(
                    session, actor=actor, username=username, password=passwords[username]
                )
        _, admin = auth_service.create_token(session, actor=actor, name="demo", username="admin")
        _, pipe = auth_service.create_token(session, actor=actor, name="demo", username="pipeline")
        session.commit()
    return admin, pipe, passwords


def _wait_ready(url: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def _seed(url: str, token: str, pool: LivePool | None, tenant_count: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=300) as api:
        live = {"deploy": pool.deploy_settings, "ports": pool.ports} if pool else None
        api.post("/cmdb/import", json=estate.platform(live)).raise_for_status()
        for batch in estate.tenants(tenant_count):
            api.post("/cmdb/import", json=batch).raise_for_status()
        api.put("/change-policies/*", json={"text": DEMO_POLICY}).raise_for_status()
        for name, rank, needs_change in (("production", 1, True),):
            body = {"rank": rank, "requires_change": needs_change}
            api.put(f"/environments/{name}", json=body).raise_for_status()


def _scenario_logged(*args: object) -> None:
    try:
        _scenario(*args)  # type: ignore[arg-type]
    except Exception as exc:  # the server keeps running; say what went wrong
        err_console.print(f"[red]the demo scenario stopped:[/] {exc}")


def _scenario(
    url: str,
    admin: str,
    pipe: str,
    home: Path,
    live: bool,
    speed: float,
    tenant_count: int,
    stopping: threading.Event,
) -> None:
    _wait_ready(url)
    pool = LivePool(home, STOREFRONT_PORTS, FRONTEND_PORT) if live else None
    if pool is not None:
        console.print(f"[bold]storefront:[/] {pool.start()}")
    _seed(url, admin, pool, tenant_count)
    console.print(
        f"[bold]scenario seeded[/]: {len(estate.SERVICES)} services, {tenant_count:,} retailers"
    )
    if pool is None:
        return
    customers = Customers(pool, rate=20.0)
    customers.start()
    pipeline = Pipeline(url, pipe, tick_s=60.0 / speed, bake_s=max(5.0, 30.0 / speed))
    try:
        pipeline.run_forever(stopping)
    finally:
        customers.stopping.set()
        pool.stop()


def demo(
    speed: float = typer.Option(
        1.0, min=0.1, max=1000, help="Compress time: 10 = ten times faster."
    ),
    live: bool = typer.Option(True, "--live/--no-live", help="--no-live seeds only."),
    tenants: int = typer.Option(20_000, min=0, max=200_000, help="Retailers to seed."),
    port: int | None = typer.Option(None, help="Port (default FLYWHEEL_PORT)."),
) -> None:
    """Seed the built-in scenario and run it live on this machine (Ctrl-C stops everything)."""
    cfg = settings()
    migrate.upgrade(cfg.resolved_database_url)
    cfg.resolved_secret_key()
    admin, pipe, passwords = _people()
    host, port = cfg.host, port or cfg.port
    url = f"http://{host}:{port}"
    console.print(f"Flywheel demo on [bold]{url}[/] (API docs at {url}/docs)")
    console.print("sign in as: " + ", ".join(f"{u} / {p}" for u, p in passwords.items()))
    console.print("admin API token (shown once):")
    print(admin, flush=True)
    stopping = threading.Event()
    worker = threading.Thread(
        target=_scenario_logged,
        args=(url, admin, pipe, cfg.home / "demo", live, speed, tenants, stopping),
        daemon=True,
        name="demo-scenario",
    )
    worker.start()
    server = uvicorn.Server(
        uvicorn.Config(create_app(cfg), host=host, port=port, log_level="warning")
    )
    try:
        server.run()
    finally:
        stopping.set()
        worker.join(timeout=30)
        if worker.is_alive():
            err_console.print("the scenario did not stop in time")
