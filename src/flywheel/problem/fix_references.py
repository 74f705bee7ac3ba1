"""Which problems a change says it fixes: PRB numbers in its title, description, links, commits."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from flywheel.change import service as change_service
from flywheel.problem.models import Problem
from flywheel.problem.refs import problem_numbers_in


def problems_fixed_by(session: Session, change_id: int) -> list[str]:
    """Numbers of existing problems the change names (e.g. 'Fixes PRB0000012' in a commit)."""
    change = change_service.get_change(session, change_id=change_id)
    texts: list[str | None] = [change.title, change.description, json.dumps(change.links or {})]
    texts += [c.message for c in change.commits]
    wanted = set().union(*(problem_numbers_in(t) for t in texts))
    if not wanted:
        return []
    found = session.scalars(select(Problem.id).where(Problem.id.in_(wanted)).order_by(Problem.id))
    return [f"PRB{i:07d}" for i in found]
