"""`flywheel worker`: background work only, no HTTP, until SIGTERM or SIGINT."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

import typer

from flywheel import migrate
from flywheel.background import BackgroundWork
from flywheel.cli.common import console, settings
from flywheel.config import get_settings
from flywheel.db import Database
from flywheel.errors import Conflict
from flywheel.logs import configure as configure_logging
from flywheel.wiring import install_domains
from flywheel.workers.identity import Role, identify


def worker(
    name: str | None = typer.Option(
        None, help="A stable worker name, kept across restarts (default FLYWHEEL_WORKER_NAME)."
    ),
    upgrade: bool = typer.Option(True, help="Migrate the database first."),
) -> None:
    """Run deployment runs, paging, probes, problem checks and SLO rounds (no HTTP)."""
    os.environ["FLYWHEEL_ROLE"] = Role.WORKER.value
    if name is not None:
        os.environ["FLYWHEEL_WORKER_NAME"] = name
    get_settings.cache_clear()
    cfg = settings()
    configure_logging(cfg.log_level, cfg.log_format)  # with secrets redacted, as serve does
    if upgrade:
        migrate.upgrade(cfg.resolved_database_url)
    db = Database(cfg.resolved_database_url, cfg)
    install_domains(db, cfg)
    me = identify(Role.WORKER, cfg.worker_name)
    work = BackgroundWork(db, cfg, me)
    stop = threading.Event()
    _on_signals(stop)
    try:
        work.start()
    except Conflict as exc:
        console.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(1) from exc
    console.print(f"Flywheel worker [bold]{me.executor_id}[/] running (Ctrl-C to stop)")
    stop.wait()
    console.print("stopping: runs in flight get 15 s to finish, peers resume the rest")
    work.stop()
    db.dispose()


def _on_signals(stop: threading.Event) -> None:
    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
