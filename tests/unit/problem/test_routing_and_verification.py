"""Routing rules, backlog payloads, retry backoff, verification verdicts and measures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from flywheel.errors import InvalidInput
from flywheel.problem.lifecycle import ProblemState, RootCauseCategory
from flywheel.problem.measures import ProblemTimes, by_category
from flywheel.problem.routing import (
    Route,
    backlog_body,
    backlog_csv,
    check_task,
    next_delay,
    route_for,
)
from flywheel.problem.verification import FixStatus, Verdict, verdict

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROBLEM = {
    "number": "PRB0000007",
    "title": "Checkout times out",
    "service": "shop",
    "root_cause": "pool too small",
    "five_whys": ["slow", "pool exhausted"],
    "incidents": ["INC0000001"],
}


def test_each_category_has_its_route() -> None:
    assert route_for(RootCauseCategory.SOFTWARE) is Route.BACKLOG
    assert route_for(RootCauseCategory.HARDWARE) is Route.CHANGE
    assert route_for(RootCauseCategory.OPERATIONAL) is Route.TASK
    assert route_for(RootCauseCategory.THIRD_PARTY) is Route.TASK


def test_github_and_jira_shapes() -> None:
    github = backlog_body(PROBLEM, "github", "")
    assert github["title"] == "[PRB0000007] Checkout times out"
    assert "pool too small" in github["body"] and "problem" in github["labels"]
    jira = backlog_body(PROBLEM, "jira", "SHOP")
    assert jira["fields"]["project"] == {"key": "SHOP"}
    assert jira["fields"]["issuetype"] == {"name": "Bug"}
    assert "PRB0000007" in jira["fields"]["description"]


def test_csv_export_has_a_header_and_a_row() -> None:
    text = backlog_csv([{"problem": "PRB0000007", "title": "a, b", "due": None}])
    assert text.splitlines()[0].startswith("problem,title,service")
    assert text.splitlines()[1].startswith('PRB0000007,"a, b"')


def test_tasks_need_owner_and_future_due_date() -> None:
    with pytest.raises(InvalidInput, match="owner"):
        check_task(None, date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(InvalidInput, match="in the past"):
        check_task("ann", date(2025, 12, 1), date(2026, 1, 1))


def test_backoff_doubles_then_gives_up() -> None:
    assert next_delay(1) == timedelta(seconds=30)
    assert next_delay(3) == timedelta(seconds=120)
    assert next_delay(8) is None


def test_verdicts() -> None:
    quiet = timedelta(days=14)
    fip, res = ProblemState.FIX_IN_PROGRESS, ProblemState.RESOLVED
    done, pending = FixStatus(1, 0, 1), FixStatus(2, 1, 1)
    kw = {"resolved_at": None, "last_recurrence": None, "now": T0, "quiet_period": quiet}
    assert verdict(fip, done, **kw) is Verdict.RESOLVE  # type: ignore[arg-type]
    assert verdict(fip, pending, **kw) is Verdict.NOTHING  # type: ignore[arg-type]
    assert verdict(fip, FixStatus(1, 0, 0), **kw) is Verdict.NOTHING  # type: ignore[arg-type]
    early = {**kw, "resolved_at": T0, "now": T0 + timedelta(days=3)}
    assert verdict(res, done, **early) is Verdict.NOTHING  # type: ignore[arg-type]
    late = {**early, "now": T0 + timedelta(days=15)}
    assert verdict(res, done, **late) is Verdict.CLOSE  # type: ignore[arg-type]
    again = {**early, "last_recurrence": T0 + timedelta(days=1)}
    assert verdict(res, done, **again) is Verdict.REOPEN  # type: ignore[arg-type]


def test_measures_by_category() -> None:
    hour = timedelta(hours=1)
    rows = [
        ProblemTimes("software", T0, T0 + 2 * hour, T0 + 10 * hour, None, 0),
        ProblemTimes("software", T0, T0 + 4 * hour, None, None, 1),
        ProblemTimes(None, T0, None, None, None, 0),
    ]
    overall, per = by_category(rows)
    assert overall.problems == 3 and overall.reopened == 1
    assert overall.recurrence_rate == 0.5
    software = next(m for m in per if m.category == "software")
    assert software.mean_time_to_root_cause_s == 3 * 3600
    assert software.mean_time_to_fix_s == 10 * 3600
    assert [m.category for m in per] == ["software", "unknown"]
