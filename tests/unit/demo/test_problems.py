"""The demo's problem parts: recurring outages planned in the history, the live hook."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx

from flywheel.demo import history
from flywheel.demo.problems import suggest_after_incident

END = datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_the_history_holds_failures_that_recur_within_two_weeks() -> None:
    past = history.plan(END, days=21)
    recent = [o for o in past.outages if (END - o.fired_at).days < 14]
    kinds = Counter((o.service, o.alertname) for o in recent)
    assert kinds[("cart", "DatabaseConnectionsExhausted")] >= 4
    assert kinds[("storefront", "HostDiskFull")] >= 3
    short = history.plan(END, days=5)  # only what falls inside the period
    assert all(o.fired_at >= END.replace(hour=0) - timedelta(days=5) for o in short.outages)


def test_the_live_hook_runs_the_suggestion_after_each_confirmed_incident() -> None:
    asked: list[tuple[str, dict[str, object]]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append((request.url.path, json.loads(request.content)))
        return httpx.Response(201, json=[{"value": "alert:storefront:storefronterrors"}])

    with httpx.Client(transport=httpx.MockTransport(answer), base_url="http://x") as client:
        suggest_after_incident(client, 7)
    assert asked == [("/problems/suggestions", {"period_days": 14, "min_incidents": 3})]
