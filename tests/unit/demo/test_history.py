"""The planned history is coherent: each story's moments in order, faults with incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flywheel.demo import history
from flywheel.demo.estate import SERVICES

END = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_every_change_moves_forward_in_time() -> None:
    past = history.plan(END)
    assert len(past.changes) > 300
    for story in past.changes:
        commits = [at for _, at in story.commits]
        assert max(commits) < story.staged_at < story.opened_at
        assert story.opened_at <= story.deploy_at < story.rolled_out_at < story.finished_at
        if story.approved_at is not None:
            assert story.opened_at < story.approved_at < story.deploy_at
        assert story.finished_at < story.reviewed_at
        assert 0 <= story.errors <= story.requests
        assert story.settled_at < END


def test_the_period_has_risky_changes_faults_and_outages_on_every_service() -> None:
    past = history.plan(END)
    assert {c.service for c in past.changes} == set(SERVICES)
    assert sum(c.approved_at is not None for c in past.changes) > 20
    bake = [c for c in past.changes if c.fault == "bake"]
    latent = [c for c in past.changes if c.fault == "latent"]
    assert bake and latent and past.outages
    assert all(c.rolled_back_by_bake and c.incident for c in bake)
    for story in latent:
        assert story.incident is not None and story.incident.rollback_at is not None
        assert story.finished_at < story.incident.fired_at < story.incident.rollback_at
    for incident in [c.incident for c in bake + latent if c.incident] + past.outages:
        assert incident.fired_at < incident.acknowledged_at <= incident.restored_at
        assert incident.restored_at < incident.resolved_at


def test_the_teams_speed_up_over_the_period() -> None:
    past = history.plan(END)
    middle = END - timedelta(days=45)
    early = [c for c in past.changes if c.opened_at < middle]
    late = [c for c in past.changes if c.opened_at >= middle]
    assert len(late) > len(early)

    def mean_development_h(stories: list[history.ChangeStory]) -> float:
        spans = [(s.opened_at - min(at for _, at in s.commits)).total_seconds() for s in stories]
        return sum(spans) / len(spans) / 3600

    assert mean_development_h(late) < mean_development_h(early)


def test_the_plan_is_the_same_for_the_same_seed() -> None:
    first, second = history.plan(END, days=20), history.plan(END, days=20)
    assert first.changes == second.changes
    assert history.plan(END, days=20, seed=3).changes != first.changes
