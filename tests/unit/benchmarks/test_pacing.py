"""Open-loop pacing: schedules, corrected latency, percentiles, windows, the issue-4 verdict."""

from __future__ import annotations

import random

import pytest

from pacing import (
    Schedule,
    Tally,
    latencies_ms,
    latency_summary,
    percentile,
    pipeline_interval,
    targets_met,
    windows,
)


def test_interval_spreads_the_rate_over_the_pipelines() -> None:
    assert pipeline_interval(50, 300) == pytest.approx(1 / 6)
    assert pipeline_interval(1, 4) == 0.25


@pytest.mark.parametrize(("pipelines", "rate"), [(0, 300), (50, 0), (50, -1)])
def test_interval_refuses_nonsense(pipelines: int, rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        pipeline_interval(pipelines, rate)


def test_schedules_start_at_random_offsets_within_one_interval() -> None:
    rng = random.Random(7)
    firsts = [Schedule.starting(100.0, 0.5, rng).first for _ in range(50)]
    assert all(100.0 <= f < 100.5 for f in firsts)
    assert len(set(firsts)) == 50  # pipelines do not fire together


def test_schedule_is_fixed_and_does_not_drift() -> None:
    schedule = Schedule(first=10.0, interval=0.1)
    dues = [schedule.take(now=0.0)[0] for _ in range(3)]
    assert dues == pytest.approx([10.0, 10.1, 10.2])
    schedule.taken = 1_000_000
    assert schedule.due() == pytest.approx(10.0 + 100_000.0, abs=1e-9)


def test_a_send_is_late_only_when_over_one_interval_behind() -> None:
    schedule = Schedule(first=0.0, interval=1.0)
    assert schedule.take(now=0.9) == (0.0, False)
    assert schedule.take(now=2.0) == (1.0, False)
    assert schedule.take(now=3.5) == (2.0, True)


def test_unsent_counts_slots_due_before_the_end_never_taken() -> None:
    schedule = Schedule(first=0.0, interval=1.0, taken=4)
    assert schedule.unsent(until=10.0) == 6  # slots at 0..9; a slot at 10 is not before it
    assert schedule.unsent(until=9.5) == 6
    assert Schedule(first=5.0, interval=1.0).unsent(until=5.0) == 0
    assert Schedule(first=0.0, interval=1.0, taken=12).unsent(until=10.0) == 0


def test_latency_counts_from_the_scheduled_time_and_service_from_the_send() -> None:
    corrected, service = latencies_ms(due=1.0, sent=1.5, done=1.6)
    assert corrected == pytest.approx(600.0)
    assert service == pytest.approx(100.0)


def test_a_request_sent_early_counts_from_its_send() -> None:
    assert latencies_ms(due=2.0, sent=1.9995, done=2.0095) == pytest.approx((10.0, 10.0))


def simulate(service_times: list[float], interval: float) -> tuple[list[float], list[float], int]:
    """One paced pipeline, one request at a time: corrected and service latencies, late sends."""
    schedule, now, late_sends = Schedule(first=0.0, interval=interval), 0.0, 0
    corrected, service = [], []
    for took in service_times:
        now = max(now, schedule.due())
        due, late = schedule.take(now)
        late_sends += late
        lat, svc = latencies_ms(due, now, now + took)
        corrected.append(lat)
        service.append(svc)
        now += took
    return corrected, service, late_sends


def test_a_stall_shows_in_corrected_latency_not_only_in_one_request() -> None:
    # 10/s for 10 s; one 1 s stall: the requests queued behind it waited too.
    corrected, service, late = simulate([0.01] * 20 + [1.0] + [0.01] * 79, interval=0.1)
    assert percentile(service, 0.99) == pytest.approx(10.0)
    assert percentile(corrected, 0.99) == pytest.approx(910.0)
    assert sum(c > 100 for c in corrected) == 10  # the stalled one and the nine behind it
    assert late == 9  # the nine behind it went out over one interval late
    assert all(c >= s for c, s in zip(corrected, service, strict=True))


def test_no_stall_no_correction() -> None:
    corrected, service, late = simulate([0.02] * 50, interval=0.1)
    assert corrected == pytest.approx(service)
    assert late == 0


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.07) == 7.0  # 0.07 * 100 is a hair above 7 in floating point
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([1.0, 2.0], 0.99) == 2.0
    assert percentile([], 0.5) is None


def test_latency_summary() -> None:
    summary = latency_summary([10.0, 20.0, 30.0, 40.0])
    assert summary == {"p50": 20.0, "p95": 40.0, "p99": 40.0, "max": 40.0, "mean": 25.0}
    assert set(latency_summary([]).values()) == {None}


def test_tally_times_only_auto_approved_decisions() -> None:
    tally = Tally()
    assert tally.record(201, {"state": "scheduled"}, done=1.0, latency_ms=50.0, service_ms=40.0)
    assert tally.record(201, {"state": "pending_approval"}, 2.0, 900.0, 900.0)
    assert not tally.record(503, {"detail": "busy"}, 3.0, 5.0, 5.0)
    assert not tally.record(200, None, 4.0, 5.0, 5.0)
    assert tally.decisions == 2
    assert tally.latencies_ms == [50.0]
    assert tally.service_ms == [40.0]
    assert tally.errors == {"503": 1, "200": 1}
    assert tally.finished_at == [1.0, 2.0]


def test_windows_rate_per_ten_seconds() -> None:
    finished = [100.5] * 30 + [112.0] * 10 + [121.0] * 5
    assert windows(finished, began=100.0, seconds=25.0) == [3.0, 1.0, 1.0]


def test_targets_met_when_every_condition_holds() -> None:
    assert targets_met(320.0, 80.0, 290.0, 300.0, errors=0)
    assert targets_met(300.0, 99.9, 285.0, 300.0, errors=0)  # every bound just held


@pytest.mark.parametrize(
    ("capacity", "p99", "paced", "errors"),
    [
        (299.9, 80.0, 290.0, 0),  # the server cannot sustain 300/s
        (320.0, 100.0, 290.0, 0),  # a pipeline waits too long at 300/s
        (320.0, None, 290.0, 0),  # no auto-approved decision at all
        (320.0, 80.0, 284.9, 0),  # the paced phase fell behind its offered rate
        (320.0, 80.0, 290.0, 1),  # an error in either phase
    ],
)
def test_targets_missed_when_any_condition_fails(
    capacity: float, p99: float | None, paced: float, errors: int
) -> None:
    assert not targets_met(capacity, p99, paced, 300.0, errors)
