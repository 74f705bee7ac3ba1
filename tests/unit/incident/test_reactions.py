"""The incident reaction registry: reactions run on batches that touched incidents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from flywheel.auth.actor import Actor
from flywheel.incident import reactions
from flywheel.incident.intake import IntakeResult


def _actor() -> Any:
    return Actor.__new__(Actor)


@pytest.fixture(autouse=True)
def only_these_reactions() -> Iterator[None]:
    """Set aside what apps built earlier in the run registered (the registry is global)."""
    before = {name: reactions._REACTIONS[name] for name in reactions.registered()}
    reactions._REACTIONS.clear()
    yield
    reactions._REACTIONS.clear()
    reactions._REACTIONS.update(before)


def test_reaction_runs_only_when_incidents_were_touched() -> None:
    seen: list[list[str]] = []
    reactions.register("test", lambda s, r, a, n: seen.append(r.incidents_opened))
    try:
        now = datetime(2026, 1, 1, tzinfo=UTC)
        reactions.react(None, IntakeResult(received=3), _actor(), now)  # type: ignore[arg-type]
        reactions.react(
            None,  # type: ignore[arg-type]
            IntakeResult(received=1, incidents_opened=["INC0000001"]),
            _actor(),
            now,
        )
    finally:
        reactions.unregister("test")
    assert seen == [["INC0000001"]]
    assert "test" not in reactions.registered()


def test_registering_twice_under_one_name_replaces() -> None:
    calls: list[str] = []
    reactions.register("twice", lambda s, r, a, n: calls.append("first"))
    reactions.register("twice", lambda s, r, a, n: calls.append("second"))
    try:
        result = IntakeResult(incidents_resolved=["INC0000002"])
        reactions.react(None, result, _actor(), datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
    finally:
        reactions.unregister("twice")
    assert calls == ["second"]
