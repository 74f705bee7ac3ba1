"""A deployment done by another tool, recorded after the fact: times, steps, change, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from flywheel.audit.models import AuditEvent
from flywheel.change import governance
from flywheel.change import service as change_service
from flywheel.change.schemas import ChangeCreate
from flywheel.db import Database, utcnow
from flywheel.deploy import service as deploy_service
from flywheel.deploy.external import ExternalRun
from flywheel.errors import InvalidInput
from tests.factories import SYSTEM, make_ci, make_estate

FLOW = "mode: first_match\ndefault: auto_approve\nrules: []\n"


def _run(**fields: object) -> ExternalRun:
    start = utcnow() - timedelta(days=3)
    values: dict[str, object] = {
        "service": "checkout",
        "pool": "pool",
        "version": "2.0.0",
        "started_at": start,
        "rolled_out_at": start + timedelta(minutes=6),
        "finished_at": start + timedelta(minutes=16),
        "requests": 5000,
        "errors": 3,
        **fields,
    }
    return ExternalRun(**values)  # type: ignore[arg-type]


def test_a_recorded_run_keeps_its_times_and_closes_out_its_change(db: Database) -> None:
    with db.session(write=True) as session:
        make_estate(session)
        governance.apply_policy(session, actor=SYSTEM, scope="*", text=FLOW)
        data = ChangeCreate(service="checkout", title="small fix", code_metrics={"la": 3})
        change, _ = change_service.open_change(session, actor=SYSTEM, data=data)
        assert change.state == "scheduled"
        run = _run(change_id=change.id, state="rolled_back", errors=400)
        recorded = deploy_service.record_external_deployment(session, actor=SYSTEM, run=run)
        session.commit()
        run_id, change_id = recorded.id, change.id
    with db.session() as session:
        found = deploy_service.get_deployment(session, deployment_id=run_id)
        assert (found.state, found.started_at, found.finished_at) == (
            "rolled_back",
            run.started_at,
            run.finished_at,
        )
        assert found.created_at == run.started_at
        steps = deploy_service.steps_of(session, deployment_id=run_id)
        assert [(s.action, s.state) for s in steps] == [("enable", "done"), ("bake", "failed")]
        assert steps[1].finished_at == run.finished_at
        traffic = deploy_service.bake_traffic(
            session,
            service="checkout",
            environment="production",
            start=run.started_at,
            end=run.finished_at + timedelta(seconds=1),
        )
        assert traffic == [(run.finished_at, 5000, 400)]
        change = change_service.get_change(session, change_id=change_id)
        assert (change.state, change.close_code) == ("review", "rolled_back")
        assert (change.actual_start, change.actual_end) == (run.started_at, run.finished_at)
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_id == str(run_id))
        ).all()
        assert "deploy.record" in actions and actions.count("deploy.state") == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"state": "running"}, "recorded finished"),
        ({"pool": "nowhere"}, "unknown pool"),
        ({"pool": "checkout"}, "not a service_pool"),
        ({"errors": 6000}, "between 0"),
    ],
)
def test_a_bad_record_is_refused_and_writes_nothing(
    db: Database, fields: dict[str, object], message: str
) -> None:
    with db.session(write=True) as session:
        make_estate(session)
        make_ci(session, "spare-pool", "service_pool")
        with pytest.raises(InvalidInput, match=message):
            deploy_service.record_external_deployment(session, actor=SYSTEM, run=_run(**fields))
        assert deploy_service.list_deployments(session) == []


def test_times_out_of_order_are_refused(db: Database) -> None:
    run = _run()
    backwards = _run(rolled_out_at=run.started_at - timedelta(minutes=1))
    with db.session(write=True) as session:
        make_estate(session)
        with pytest.raises(InvalidInput, match="in that order"):
            deploy_service.record_external_deployment(session, actor=SYSTEM, run=backwards)
