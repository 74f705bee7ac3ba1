"""A deployment run arranged by batch and instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flywheel.web.runs import arrange, baked, run_note


@dataclass
class Step:
    seq: int
    phase: str
    batch: int
    action: str
    state: str
    instances: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


def bake(seq: int, batch: int, rate: float) -> Step:
    evidence = {"new": {"requests": 100, "error_rate": rate}, "old": {"error_rate": 0.01}}
    return Step(
        seq, "deploy", batch, "bake", "done", detail={"verdict": "ok", "evidence": evidence}
    )


def test_steps_fill_the_batches() -> None:
    plan = {"batches": [["a"], ["b", "c"]]}
    steps = [
        Step(1, "deploy", 0, "gate", "done"),
        Step(2, "deploy", 0, "start", "done", detail={"versions": {"a": "v2"}}),
        bake(3, 0, 0.005),
        Step(4, "deploy", 1, "gate", "done"),
        Step(5, "deploy", 1, "drain", "running"),
    ]
    first, second = arrange(plan, steps)
    assert first.versions == {"a": "v2"} and first.new_rate == 0.005 and first.old_rate == 0.01
    assert {c.action: c.state for c in first.deploy}["bake"] == "done"
    assert second.state == "running" and second.instances == ["b", "c"]
    assert baked([first, second]) == [{"index": 0, "new_rate": 0.005, "old_rate": 0.01}]
    assert run_note(steps) == "drain on batch 2"


def test_a_failed_bake_and_its_rollback() -> None:
    plan = {"batches": [["a"]]}
    failed = Step(1, "deploy", 0, "bake", "failed", detail={"reason": "new version failed 9 of 10"})
    steps = [
        failed,
        Step(2, "rollback", -1, "rolling_back", "done"),
        Step(3, "rollback", 0, "stop", "done"),
    ]
    (batch,) = arrange(plan, steps)
    assert batch.state == "rolled back"
    assert batch.verdict == "new version failed 9 of 10" and batch.new_rate is None
    assert run_note(steps) == "bake: new version failed 9 of 10"
    assert {c.action: c.state for c in batch.rollback}["stop"] == "done"
