"""Probe checks without a network: status rules, judging answers, the schedule grid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from flywheel.errors import InvalidInput
from flywheel.incident.probe_check import ProbeSpec, check, parse_status
from flywheel.incident.probe_runner import next_slot


@pytest.mark.parametrize(
    ("spec", "accepted", "refused"),
    [
        ("200", [200], [201, 500]),
        ("200-299", [200, 250, 299], [199, 300]),
        ("200,204,300-399", [200, 204, 301, 399], [201, 400]),
    ],
)
def test_status_rules(spec: str, accepted: list[int], refused: list[int]) -> None:
    rule = parse_status(spec)
    assert all(rule.accepts(c) for c in accepted)
    assert not any(rule.accepts(c) for c in refused)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("2xx", "'2xx' is not a status"), ("299-200", "backwards"), ("600", "'600'"), ("", "''")],
)
def test_bad_status_rules_name_the_problem(spec: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_status(spec)


def _client(status: int, body: str = "", error: Exception | None = None) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        if error is not None:
            raise error
        return httpx.Response(status, text=body)

    return httpx.Client(transport=httpx.MockTransport(answer))


def _spec(**fields: object) -> ProbeSpec:
    base: dict[str, object] = {
        "url": "http://shop/healthz",
        "method": "GET",
        "timeout_s": 1.0,
        "expected": parse_status("200-299"),
    }
    return ProbeSpec(**{**base, **fields})  # type: ignore[arg-type]


def test_a_good_answer_passes_with_its_latency() -> None:
    outcome = check(_spec(body_contains="ok"), _client(200, "all ok"))
    assert (outcome.ok, outcome.status_code, outcome.error) == (True, 200, None)
    assert outcome.latency_ms is not None and outcome.latency_ms >= 0


def test_wrong_status_missing_text_timeouts_and_refusals_fail() -> None:
    assert check(_spec(), _client(503)).error == "unexpected status 503"
    assert check(_spec(body_contains="ok"), _client(200, "down")).error == "body lacks 'ok'"
    late = check(_spec(), _client(0, error=httpx.ReadTimeout("slow")))
    assert (late.ok, late.error) == (False, "no answer within 1s")
    refused = check(_spec(), _client(0, error=httpx.ConnectError("refused")))
    assert refused.error == "ConnectError: refused" and refused.status_code is None


def test_long_errors_are_kept_short() -> None:
    outcome = check(_spec(), _client(0, error=httpx.ConnectError("x" * 1000)))
    assert outcome.error is not None and len(outcome.error) == 200


def test_the_schedule_keeps_its_grid_and_skips_missed_slots() -> None:
    seen = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert next_slot(seen, 60, seen) == seen + timedelta(seconds=60)
    assert next_slot(seen, 60, seen + timedelta(seconds=10)) == seen + timedelta(seconds=60)
    # Down for an hour: the next run is the next slot, not sixty runs in a burst.
    later = seen + timedelta(minutes=60, seconds=5)
    assert next_slot(seen, 60, later) == seen + timedelta(minutes=61)
