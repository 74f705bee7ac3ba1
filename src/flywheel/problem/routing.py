"""Fix routing (pure): where a root cause's fix goes, backlog payloads, CSV, retry backoff."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from flywheel.errors import InvalidInput
from flywheel.problem.lifecycle import RootCauseCategory


class Route(StrEnum):
    """The kind of follow-up a fix becomes."""

    BACKLOG = "backlog"
    CHANGE = "change"
    TASK = "task"


ROUTES = {
    RootCauseCategory.SOFTWARE: Route.BACKLOG,
    RootCauseCategory.HARDWARE: Route.CHANGE,
    RootCauseCategory.OPERATIONAL: Route.TASK,
    RootCauseCategory.THIRD_PARTY: Route.TASK,
}
MAX_ATTEMPTS = 8
BASE_DELAY_S = 30.0
MAX_DELAY_S = 6 * 3600.0


def route_for(category: RootCauseCategory) -> Route:
    """The follow-up a root cause of this category needs."""
    return ROUTES[category]


def check_task(owner: str | None, due: date | None, today: date) -> None:
    """A runbook, training or vendor task needs an owner and a due date not in the past."""
    if not owner:
        raise InvalidInput("a task fix needs an owner")
    if due is None:
        raise InvalidInput("a task fix needs a due_date")
    if due < today:
        raise InvalidInput(f"due_date {due.isoformat()} is in the past")


def backlog_body(problem: Mapping[str, Any], shape: str, project: str) -> dict[str, Any]:
    """The backlog item as the tracker expects it: a GitHub issue or a Jira issue."""
    title = f"[{problem['number']}] {problem['title']}"
    lines = [
        f"Problem {problem['number']} on {problem['service']}.",
        f"Root cause: {problem['root_cause'] or '(not recorded)'}",
        *(f"- why: {w}" for w in problem.get("five_whys") or []),
        f"Incidents: {', '.join(problem.get('incidents') or []) or 'none'}",
        f"Reference {problem['number']} in the fixing change or commit message.",
    ]
    body = "\n".join(lines)
    labels = ["problem", "flywheel", f"service:{problem['service']}"]
    if shape == "github":
        return {"title": title, "body": body, "labels": labels}
    return {
        "fields": {
            "project": {"key": project or "OPS"},
            "summary": title[:255],
            "description": body,
            "issuetype": {"name": "Bug"},
            "labels": [label.replace(":", "-") for label in labels],
        }
    }


def next_delay(attempts: int) -> timedelta | None:
    """Wait before the next try after `attempts` failures; None when it is time to give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return timedelta(seconds=min(BASE_DELAY_S * 2 ** (attempts - 1), MAX_DELAY_S))


CSV_COLUMNS = ("problem", "title", "service", "category", "root_cause", "tracker", "state", "due")


def backlog_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Backlog items as CSV for trackers without a webhook."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in CSV_COLUMNS})
    return out.getvalue()
