"""The change-decisions load generator's pipelines, against a fake connection (no server)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, cast

import pytest

import change_decisions
from change_decisions import Pipeline, drive
from lean_http import Connection, HttpError


class FakeConnection:
    """Answers every POST as the server would for an auto-approved change, after a delay."""

    def __init__(self, delays: dict[int, float] | None = None, broken: set[int] | None = None):
        self.delays, self.broken = delays or {}, broken or set()
        self.paths: list[str] = []
        self.closed = 0

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """The n-th request waits delays[n] seconds; those in `broken` fail like a reset."""
        number = len(self.paths)
        self.paths.append(path)
        await asyncio.sleep(self.delays.get(number, 0.0))
        if number in self.broken:
            raise HttpError("ConnectionResetError")
        return 201, {"id": number, "state": "scheduled"}

    async def close(self) -> None:
        """Count closes."""
        self.closed += 1


def pipelines(fakes: list[FakeConnection], deploy: bool = False) -> list[Pipeline]:
    """One pipeline per fake connection."""
    args = argparse.Namespace(idempotency_key=True, deploy=deploy)
    return [Pipeline(cast(Connection, f), n, "svc", args) for n, f in enumerate(fakes)]


def test_paced_pipelines_take_every_slot_of_the_phase_once() -> None:
    fakes = [FakeConnection() for _ in range(5)]
    tally, _, duration = asyncio.run(drive(pipelines(fakes), seconds=0.5, rate=50))
    # each pipeline has 5 slots (every 0.1 s from an offset below 0.1 s) before the end
    assert tally.requests + tally.unsent == 25
    assert tally.decisions == tally.requests == sum(len(f.paths) for f in fakes)
    assert not tally.errors
    assert 0.4 < duration < 2.0


def test_a_late_answer_makes_the_next_requests_late_and_counted_from_schedule() -> None:
    fake = FakeConnection(delays={1: 0.3})
    tally, _, _ = asyncio.run(drive(pipelines([fake]), seconds=0.8, rate=20))
    assert tally.late >= 1
    queued = [c - s for c, s in zip(tally.latencies_ms, tally.service_ms, strict=True)]
    assert max(queued) > 150  # waited behind the stall before it could even be sent
    assert max(tally.service_ms) >= 300


def test_a_broken_connection_counts_as_an_error_and_the_pipeline_goes_on() -> None:
    fake = FakeConnection(broken={0})
    tally, _, _ = asyncio.run(drive(pipelines([fake]), seconds=0.2, rate=None))
    assert tally.errors == {"ConnectionResetError": 1}
    assert tally.decisions == tally.requests - 1 > 0


def test_closed_loop_sends_again_at_once_and_deploy_starts_and_completes() -> None:
    fake = FakeConnection(delays=dict.fromkeys(range(1000), 0.01))
    tally, _, _ = asyncio.run(drive(pipelines([fake], deploy=True), seconds=0.2, rate=None))
    assert fake.paths[:3] == ["/changes", "/changes/0/start", "/changes/0/complete"]
    assert tally.requests == len(fake.paths) >= 6  # 10 ms answers, back to back
    assert tally.decisions == fake.paths.count("/changes")


def test_a_phase_gives_up_on_answers_that_never_come(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(change_decisions, "GRACE_SECONDS", 0.2)
    fakes = [FakeConnection(delays={0: 30.0}), FakeConnection()]
    tally, _, duration = asyncio.run(drive(pipelines(fakes), seconds=0.1, rate=None))
    assert tally.errors == {"no_answer_in_grace": 1}
    assert duration < 5
    assert [f.closed for f in fakes] == [1, 1]  # the unread answer must not poison the next phase
