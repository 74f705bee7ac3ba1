"""Screenshots of the console's main pages, for the README (docs/screenshots/*.png).

Seeds a small estate (benchmarks/console_estate.py) in a temporary SQLite database, serves
it with uvicorn on a loopback port, and drives Debian's Chromium with Playwright at a
laptop's window size. Run from the repository root:

    python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from console_estate import PASSWORD, Scale, seed, seed_response  # noqa: E402
from flywheel import migrate  # noqa: E402
from flywheel.app import create_app  # noqa: E402
from flywheel.change.models import ChangeRequest  # noqa: E402
from flywheel.config import Settings  # noqa: E402
from flywheel.db import Database, utcnow  # noqa: E402
from flywheel.deploy.models import Deployment  # noqa: E402
from flywheel.incident import causes  # noqa: E402
from flywheel.incident.models import Incident  # noqa: E402
from flywheel.problem.models import Problem  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1366, "height": 860}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(settings: Settings, db: Database) -> tuple[uvicorn.Server, str]:
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, db), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the console did not start")
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def sign_in(page: Page, base: str, username: str) -> None:
    """Sign in through the form."""
    page.goto(f"{base}/sign-in")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


LONG_LISTS = frozenset({"changes", "deployments", "audit", "incidents"})  # shown as one screenful


def shoot(page: Page, base: str, path: str, out: Path, name: str) -> None:
    """Open a page, let its charts draw, and save a PNG (the whole page, or a screenful)."""
    page.goto(base + path)
    page.wait_for_load_state("networkidle")
    if page.locator("[data-chart]").count():
        page.wait_for_selector("[data-chart] svg.main-svg", timeout=15_000)
    page.screenshot(path=str(out / f"{name}.png"), full_page=name not in LONG_LISTS)
    print(f"{name}: {path}", file=sys.stderr)


def targets(db: Database) -> dict[str, str]:
    """Pages to photograph, with ids from the seeded data."""
    with db.session() as session:
        held = session.scalar(
            select(ChangeRequest.id)
            .where(ChangeRequest.state == "authorize")
            .order_by(ChangeRequest.id.desc())
        )
        failed = session.scalar(
            select(Deployment.id).where(Deployment.state == "rolled_back").limit(1)
        )
        open_ids = session.scalars(select(Incident.id).where(Incident.state == "triggered"))
        incident = max(open_ids, key=lambda i: len(causes.suspects_of(session, incident_id=i)))
        analysed = session.scalar(select(Problem.id).where(Problem.state == "known_error"))
    return {
        "overview": "/",
        "changes": "/changes",
        "change": f"/changes/{held}",
        "calendar": "/changes/calendar",
        "deployments": "/deployments",
        "deployment": f"/deployments/{failed}",
        "ci": "/cmdb/ci/checkout-app",
        "what-if": "/cmdb/what-if?keys=host-08+host-09",
        "incidents": "/incidents",
        "incident": f"/incidents/{incident}",
        "delivery": "/delivery?days=30",
        "service-levels": "/service-levels",
        "tenant-report": "/service-levels/tenants?tenant=tenant-00001&months=3",
        "problems": "/problems",
        "problem": f"/problems/{analysed}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fw-screens-") as tmp:
        url = f"sqlite:///{tmp}/flywheel.db"
        migrate.upgrade(url)
        settings = Settings(
            home=Path(tmp), database_url=url, work_database_url=f"sqlite:///{tmp}/w"
        )
        db = Database(settings.resolved_database_url, settings)
        scale, now = Scale(tenants=300, changes=150, deployments=40, incidents=60), utcnow()
        seed(db, scale, now=now)
        seed_response(db, scale, now=now)
        server, base = _serve(settings, db)
        try:
            with sync_playwright() as play:
                browser = play.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=LAPTOP)
                sign_in(page, base, "carl")
                for name, path in targets(db).items():
                    shoot(page, base, path, args.out, name)
                page.context.clear_cookies()
                sign_in(page, base, "audrey")
                shoot(page, base, "/audit", args.out, "audit")
                page.context.clear_cookies()
                page.goto(f"{base}/sign-in")
                page.screenshot(path=str(args.out / "sign-in.png"))
                browser.close()
        finally:
            server.should_exit = True
            time.sleep(0.5)
            db.dispose()


if __name__ == "__main__":
    main()
