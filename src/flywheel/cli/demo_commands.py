"""`flywheel demo`: the built-in scenario — an e-commerce platform that keeps shipping.

Everything is written through Flywheel's own API, as a real installation would be: the
CMDB estate, the environments, then (unless --no-live) a live storefront pool, customers,
and a pipeline that opens a change every minute and deploys the approved ones.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
from dataclasses import dataclass, field

import httpx
import typer
import uvicorn

from flywheel import migrate
from flywheel.app import create_app
from flywheel.auth import service as auth_service
from flywheel.auth.roles import Role
from flywheel.auth.schemas import UserCreate
from flywheel.cli.common import cli_actor, console, err_console, settings, write_session
from flywheel.config import Settings
from flywheel.db import Database, utcnow
from flywheel.demo import estate, history, problems, recorder
from flywheel.demo.incidents import PROBLEM_HOOKS, LiveIncidents
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


def _people() -> tuple[dict[str, str], dict[str, str]]:
    """API tokens of the admin, the pipeline and oscar, and a password for each person."""
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
        tokens = {
            name: auth_service.create_token(session, actor=actor, name="demo", username=name)[1]
            for name in ("admin", "pipeline", "oscar")
        }
        session.commit()
    return tokens, passwords


def _wait_ready(url: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def _seed(url: str, token: str, pool: LivePool | None, tenant_count: int, slos: bool) -> str | None:
    """Estate, environments, policy and SLOs; the live monitor's integration token."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=300) as api:
        live = {"deploy": pool.deploy_settings, "ports": pool.ports} if pool else None
        api.post("/cmdb/import", json=estate.platform(live)).raise_for_status()
        for batch in estate.tenants(tenant_count):
            api.post("/cmdb/import", json=batch).raise_for_status()
        api.put("/change-policies/*", json={"text": DEMO_POLICY}).raise_for_status()
        # Only production gates deployments: the live pool has no staging twin (the history's
        # staging runs were recorded from the teams' own tooling).
        for name, rank, needs_change in (("production", 1, True),):
            body = {"rank": rank, "requires_change": needs_change}
            api.put(f"/environments/{name}", json=body).raise_for_status()
        # Without history the live bakes are the SLOs' only traffic: one faulty version would
        # spend a budget and its gate would stop the pipeline for the rest of the window.
        for service, objective in history.OBJECTIVES.items() if slos else ():
            slo = {
                "service": service,
                "name": "availability",
                "description": f"{objective} % of requests answered without error",
                "objective": objective,
                "source": "deployments",
            }
            answer = api.post("/slos", json=slo)
            if answer.status_code != 409:  # defined by an earlier run
                answer.raise_for_status()
        if pool is None:
            return None
        name = f"demo-live-monitor-{int(time.time())}"  # its token is shown once: one per run
        created = api.post("/integrations", json={"name": name})
        created.raise_for_status()
        return str(created.json()["token"])


def _history(cfg: Settings, days: int) -> None:
    """Record `days` of past changes, deployments and incidents (skipped if already there)."""
    started, end = time.monotonic(), utcnow()
    db = Database(cfg.resolved_database_url, cfg)
    try:
        with db.session(write=True) as session:
            if recorder.already_recorded(session):
                console.print("history: already recorded by an earlier run")
                return
            cast = recorder.cast_of(session, actor=cli_actor())
            session.commit()
        past = history.plan(end, days=days)
        steps = recorder.record(db, cfg, cast, past, end)
        found = problems.seed_problems(db, actor=cast.responders["oscar"], end=end)
    finally:
        db.dispose()
    console.print(
        f"[bold]history[/]: {days} days, {len(past.changes)} changes, "
        f"{len(past.outages)} outages, {steps:,} steps in {time.monotonic() - started:.1f} s"
    )
    console.print(
        f"problems: {found.suggestions} suggested from recurring incidents"
        + (f", {found.problem} analysed with a known error" if found.problem else "")
    )


def _scenario_logged(run: Scenario, server: uvicorn.Server, failed: list[Exception]) -> None:
    try:
        _scenario(run)
    except Exception as exc:  # the server keeps running; say what went wrong
        failed.append(exc)
        err_console.print(f"[red]the demo scenario stopped:[/] {exc}")
    if not run.live:  # seeding only: the work is done
        server.should_exit = True


@dataclass(frozen=True)
class Scenario:
    """What the scenario thread needs: where the server is, the tokens, and the options."""

    cfg: Settings
    url: str
    tokens: dict[str, str]
    live: bool
    speed: float
    tenant_count: int
    days: int
    stopping: threading.Event
    pools: list[LivePool] = field(default_factory=list)


def _scenario(run: Scenario) -> None:
    _wait_ready(run.url)
    home = run.cfg.home / "demo"
    pool = LivePool(home, STOREFRONT_PORTS, FRONTEND_PORT) if run.live else None
    if pool is not None:
        run.pools.append(pool)  # the main thread stops it, even if this thread is stuck
        console.print(f"[bold]storefront:[/] {pool.start()}")
    integration = _seed(run.url, run.tokens["admin"], pool, run.tenant_count, slos=run.days > 0)
    if run.days:
        _history(run.cfg, run.days)
    console.print(
        f"[bold]scenario seeded[/]: {len(estate.SERVICES)} services, {run.tenant_count:,} retailers"
    )
    if pool is None:
        return
    speed, stopping = run.speed, run.stopping
    customers = Customers(pool, rate=20.0)
    customers.start()
    assert integration is not None
    # The responder gives the bake time to roll a suspect back before doing it themselves.
    patience = max(20.0, 60.0 / speed)
    if problems.suggest_after_incident not in PROBLEM_HOOKS:
        PROBLEM_HOOKS.append(problems.suggest_after_incident)
    monitoring = LiveIncidents(
        run.url, integration, run.tokens["oscar"], customers.watch, rollback_after_s=patience
    )
    watcher = threading.Thread(
        target=monitoring.run_forever, args=(stopping,), daemon=True, name="demo-monitoring"
    )
    watcher.start()
    pipeline = Pipeline(
        run.url, run.tokens["pipeline"], tick_s=60.0 / speed, bake_s=max(5.0, 30.0 / speed)
    )
    try:
        pipeline.run_forever(stopping)
    finally:
        customers.stopping.set()
        watcher.join(timeout=10)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def demo(
    speed: float = typer.Option(
        1.0, min=0.1, max=1000, help="Compress time: 10 = ten times faster."
    ),
    live: bool = typer.Option(True, "--live/--no-live", help="--no-live seeds only."),
    tenants: int = typer.Option(20_000, min=0, max=200_000, help="Retailers to seed."),
    port: int | None = typer.Option(None, help="Port (default FLYWHEEL_PORT)."),
    days: int = typer.Option(90, min=0, max=365, help="Days of past history to record."),
) -> None:
    """Seed the built-in scenario and run it live on this machine (Ctrl-C stops everything).

    With --no-live it seeds (estate, people, 90 days of history) and exits.
    """
    cfg = settings()
    migrate.upgrade(cfg.resolved_database_url)
    cfg.resolved_secret_key()
    tokens, passwords = _people()
    host, port = cfg.host, port or cfg.port
    url = f"http://{host}:{port}"
    console.print(f"Flywheel demo on [bold]{url}[/] (API docs at {url}/docs)")
    console.print("sign in as: " + ", ".join(f"{u} / {p}" for u, p in passwords.items()))
    console.print("admin API token (shown once):")
    print(tokens["admin"], flush=True)
    run = Scenario(cfg, url, tokens, live, speed, tenants, days, threading.Event())
    server = uvicorn.Server(
        uvicorn.Config(create_app(cfg), host=host, port=port, log_level="warning")
    )
    failed: list[Exception] = []
    # uvicorn re-raises SIGTERM after its shutdown; as SystemExit it lets the pool stop below.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    worker = threading.Thread(
        target=_scenario_logged, args=(run, server, failed), daemon=True, name="demo-scenario"
    )
    worker.start()
    try:
        server.run()
    finally:
        run.stopping.set()
        worker.join(timeout=10)
        for pool in run.pools:
            pool.stop()
    if failed:
        raise typer.Exit(1)
    if not live:
        console.print(f"seeded: start the console with `flywheel serve` and open {url}")
