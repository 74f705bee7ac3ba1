"""A rollback never restarts an instance on the version it is rolling back from."""

from __future__ import annotations

from flywheel.deploy import run_steps
from flywheel.deploy.models import Deployment


def _deployment(previous: dict[str, str | None]) -> Deployment:
    return Deployment(
        id=7,
        pool="shop-pool",
        version_label="v2",
        plan={"batches": [list(previous)], "previous": previous, "min_up": 1},
        drivers={"instances": [{"key": k} for k in previous]},
        settings={},
    )


def test_rollback_versions_are_the_known_previous_ones_only() -> None:
    dep = _deployment({"shop-1": "v1", "shop-2": None})
    assert run_steps._versions(dep, "rollback") == {"shop-1": "v1"}


def test_instances_without_a_previous_version_are_left_stopped() -> None:
    dep = _deployment({"shop-2": None, "shop-3": None})
    for action in ("start", "wait_healthy", "enable"):
        detail = run_steps._perform(None, dep, "rollback", action, ["shop-2", "shop-3"], [])  # type: ignore[arg-type]
        assert detail == {"left_stopped": ["shop-2", "shop-3"], "why": "previous version unknown"}
