"""Which changes wait for whom: what the console's approve buttons and overview rest on."""

from __future__ import annotations

from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor
from flywheel.change import service
from flywheel.change.schemas import ChangeCreate
from flywheel.db import Database
from tests.integration.change.conftest import Crew

BIG = {"la": 12000, "ld": 3000, "nf": 140}


def _actor(db: Database, name: str) -> Actor:
    with db.session() as session:
        return auth_service.actor_for(auth_service.get_user(session, username=name))


def _open(db: Database, by: str, **fields: object) -> int:
    with db.session(write=True) as session:
        data = ChangeCreate.model_validate({"title": "t", **fields})
        change, _ = service.open_change(session, actor=_actor(db, by), data=data)
        session.commit()
        return change.id


def test_changes_wait_for_those_who_may_decide_them(db: Database, crew: Crew) -> None:
    risky = _open(db, "pipeline", service="checkout", code_metrics=BIG)
    authored = _open(
        db,
        "pipeline",
        service="checkout",
        code_metrics=BIG,
        commits=[{"sha": "abc1234", "author": "cleo"}],
    )
    _open(db, "pipeline", service="blog", code_metrics={"la": 1, "ld": 0, "nf": 1})  # flows
    with db.session() as session:
        carl = [c.id for c in service.awaiting_decision(session, actor=_actor(db, "carl"))]
        cleo = [c.id for c in service.awaiting_decision(session, actor=_actor(db, "cleo"))]
        dana = service.awaiting_decision(session, actor=_actor(db, "dana"))
        assert service.count_awaiting_decision(session, actor=_actor(db, "carl")) == 2
        assert service.count_awaiting_decision(session, actor=_actor(db, "carl"), cap=1) == 1
        change = service.get_change(session, change_id=risky)
        assert service.verdicts_open_to(session, actor=_actor(db, "carl"), change=change) == {
            "approve",
            "reject",
        }
        # an admin is no CAB member but may still refuse a change
        root = service.verdicts_open_to(session, actor=_actor(db, "root"), change=change)
        assert root == {"reject"}
        assert not service.verdicts_open_to(session, actor=_actor(db, "pipeline"), change=change)
    assert carl == [authored, risky]  # newest first
    assert cleo == [risky]  # she wrote a commit of the other
    assert dana == []
    with db.session(write=True) as session:
        service.approve(session, actor=_actor(db, "carl"), change_id=risky)
        session.commit()
    with db.session() as session:
        again = [c.id for c in service.awaiting_decision(session, actor=_actor(db, "carl"))]
        counts = service.count_by_state(session)
        newest = service.list_changes(session, newest_first=True, limit=2)
        older = service.list_changes(session, newest_first=True, before_id=newest[-1].id)
    assert again == [authored]
    assert counts == {"authorize": 2, "scheduled": 1}
    assert [c.id for c in newest] == [3, 2] and [c.id for c in older] == [1]
