"""A deployment run arranged for reading: batches, each instance's steps, bake verdicts (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

DEPLOY_ACTIONS = (
    "gate",
    "drain",
    "wait_drained",
    "disable",
    "stop",
    "start",
    "wait_healthy",
    "enable",
    "bake",
)
ROLLBACK_ACTIONS = ("drain", "wait_drained", "disable", "stop", "start", "wait_healthy", "enable")
MARKS = {"done": "✓", "running": "…", "failed": "✗", "skipped": "-", "waiting": "⏸"}


class Step(Protocol):
    """What a recorded step offers."""

    seq: int
    phase: str
    batch: int
    action: str
    instances: list[str]
    state: str
    detail: dict[str, Any]


@dataclass
class Cell:
    """The state of one action on one batch."""

    action: str
    state: str = "pending"
    note: str = ""

    @property
    def mark(self) -> str:
        """A symbol for the state (its name is shown too, for screen readers)."""
        return MARKS.get(self.state, "·")


@dataclass
class Batch:
    """One batch: its instances, its deploy and rollback steps, its bake verdict."""

    index: int
    instances: list[str]
    deploy: list[Cell] = field(default_factory=list)
    rollback: list[Cell] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    verdict: str = ""
    new_rate: float | None = None
    old_rate: float | None = None
    requests: int | None = None

    @property
    def state(self) -> str:
        """pending, running, done, failed or rolled back: the batch at a glance."""
        if any(c.state != "pending" for c in self.rollback):
            return "rolled back"
        states = {c.state for c in self.deploy}
        for state in ("failed", "running", "waiting"):
            if state in states:
                return state
        if states == {"done"}:
            return "done"
        return "pending" if states <= {"pending"} else "running"


def _note(step: Step) -> str:
    detail = step.detail or {}
    if detail.get("reason"):
        return str(detail["reason"])
    if step.action == "bake" and detail.get("verdict"):
        return str(detail["verdict"])
    if step.action == "wait_drained" and detail.get("forced"):
        return "drain timed out: stopped with sessions left"
    return ""


def _bake_figures(batch: Batch, detail: dict[str, Any]) -> None:
    evidence = detail.get("evidence") or {}
    new, old = evidence.get("new") or {}, evidence.get("old") or {}
    batch.verdict = str(detail.get("verdict") or detail.get("reason") or "")
    if new:
        batch.new_rate = float(new.get("error_rate") or 0.0)
        batch.requests = int(new.get("requests") or 0)
    if old:
        batch.old_rate = float(old.get("error_rate") or 0.0)


def arrange(plan: dict[str, Any], steps: Sequence[Step]) -> list[Batch]:
    """The plan's batches with what each step did to them."""
    batches = [Batch(i, list(keys)) for i, keys in enumerate(plan.get("batches") or [])]
    for batch in batches:
        batch.deploy = [Cell(a) for a in DEPLOY_ACTIONS]
        batch.rollback = [Cell(a) for a in ROLLBACK_ACTIONS]
    for step in steps:
        if not 0 <= step.batch < len(batches):
            continue
        batch = batches[step.batch]
        cells = batch.rollback if step.phase == "rollback" else batch.deploy
        for cell in cells:
            if cell.action == step.action:
                cell.state, cell.note = step.state, _note(step)
        if step.action == "start" and step.phase == "deploy":
            batch.versions.update((step.detail or {}).get("versions") or {})
        if step.action == "bake":
            _bake_figures(batch, step.detail or {})
    return batches


def baked(batches: list[Batch]) -> list[dict[str, Any]]:
    """Error-rate figures of the batches whose bake produced them."""
    return [
        {"index": b.index, "new_rate": b.new_rate, "old_rate": b.old_rate or 0.0}
        for b in batches
        if b.new_rate is not None
    ]


def run_note(steps: Sequence[Step]) -> str:
    """The latest thing the run reported (a failing step's reason, or the step running now)."""
    for step in reversed(steps):
        note = _note(step)
        if step.state in ("failed", "waiting") and note:
            return f"{step.action}: {note}"
        if step.state == "running":
            where = f"batch {step.batch + 1}" if step.batch >= 0 else "all batches"
            return f"{step.action.replace('_', ' ')} on {where}"
    return ""
