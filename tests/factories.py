"""Test data, made through the product's own service functions."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path

from sqlalchemy.orm import Session

from flywheel.auth import service as auth_service
from flywheel.auth.actor import system_actor
from flywheel.auth.models import Team, User
from flywheel.auth.roles import Role
from flywheel.auth.schemas import TeamCreate, UserCreate
from flywheel.change.models import ChangeCommit, ChangeRequest, ChangeTransition
from flywheel.cmdb import service as cmdb_service
from flywheel.cmdb.models import ConfigurationItem
from flywheel.cmdb.schemas import CICreate, RelationshipCreate
from flywheel.db import Database, utcnow
from flywheel.deploy import service as deploy_service
from flywheel.deploy.drivers.base import Instance
from flywheel.deploy.models import Deployment, DeploymentStep
from flywheel.deploy.schemas import DeploymentCreate, RolloutSettings
from flywheel.incident.models import Incident, IncidentEvent

_serial = count(1)
SYSTEM = system_actor("tests")


@dataclass(frozen=True)
class Person:
    """A user with an API token, for calling the API as them."""

    username: str
    user_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization headers for this person."""
        return {"Authorization": f"Bearer {self.token}"}


def make_user(session: Session, *roles: Role, username: str | None = None) -> User:
    """A user with the given roles (developer when none given)."""
    name = username or f"user{next(_serial)}"
    data = UserCreate(username=name, roles=list(roles) or [Role.DEVELOPER], full_name=name.title())
    return auth_service.create_user(session, actor=SYSTEM, data=data)


def make_team(session: Session, key: str | None = None, members: list[str] | None = None) -> Team:
    """A team with the given members."""
    key = key or f"team{next(_serial)}"
    data = TeamCreate(key=key, name=key.title(), members=members or [])
    return auth_service.create_team(session, actor=SYSTEM, data=data)


def make_person(db: Database, *roles: Role, username: str | None = None) -> Person:
    """A committed user with a fresh API token."""
    with db.session(write=True) as session:
        user = make_user(session, *roles, username=username)
        _, secret = auth_service.create_token(
            session, actor=SYSTEM, name="tests", username=user.username
        )
        session.commit()
        return Person(user.username, user.id, secret)


def make_ci(
    session: Session, key: str, ci_type: str = "application", **fields: object
) -> ConfigurationItem:
    """A configuration item of the given type."""
    data = CICreate.model_validate({"key": key, "name": key, "type": ci_type, **fields})
    return cmdb_service.create_ci(session, actor=SYSTEM, data=data)


def relate(
    session: Session, source: str, rel_type: str, target: str, optional: bool = False
) -> int:
    """Relate two CIs (source needs target); returns the relationship id."""
    data = RelationshipCreate.model_validate(
        {"source": source, "type": rel_type, "target": target, "optional": optional}
    )
    rel, _, _ = cmdb_service.add_relationship(session, actor=SYSTEM, data=data)
    return rel.id


def make_estate(session: Session) -> None:
    """A small shop: checkout needs a pool of 6 (min_up 4) behind lb1, and db1; two tenants."""
    make_ci(session, "checkout", "business_service", criticality=1)
    make_ci(session, "search", "business_service", criticality=3)
    make_ci(session, "checkout-app")
    make_ci(session, "pool", "service_pool", min_up="4")
    make_ci(session, "lb1", "load_balancer")
    make_ci(session, "db1", "database")
    relate(session, "checkout", "depends_on", "checkout-app")
    relate(session, "checkout-app", "depends_on", "pool")
    relate(session, "checkout-app", "depends_on", "db1")
    relate(session, "pool", "balanced_by", "lb1")
    relate(session, "search", "depends_on", "db1", optional=True)
    for host in range(3):
        make_ci(session, f"host{host}", "host")
    for i in range(6):
        make_ci(session, f"web{i}", "instance")
        relate(session, f"web{i}", "member_of", "pool")
        relate(session, f"web{i}", "runs_on", f"host{i % 3}")
    make_ci(session, "acme", "tenant", criticality=1)
    make_ci(session, "bolt", "tenant", criticality=2)
    relate(session, "acme", "uses", "checkout")
    relate(session, "bolt", "uses", "search")


def seed_finished_changes(db: Database, count: int, *, service: str = "svc") -> None:
    """Closed changes with code metrics, about one in five failed: history to train on."""
    rng = random.Random(count)
    start = utcnow() - timedelta(days=60)
    with db.session(write=True) as session:
        for i in range(count):
            la = rng.randint(1, 3000)
            failed = rng.random() < min(0.9, 0.05 + la / 4000)
            session.add(
                ChangeRequest(
                    type="normal",
                    state="closed",
                    service=service,
                    title=f"history {i}",
                    requested_by="history",
                    code_metrics={"la": la, "ld": rng.randint(0, la), "nf": rng.randint(1, 30)},
                    close_code="failed" if failed else "successful",
                    created_at=start + timedelta(minutes=10 * i),
                )
            )
        session.commit()


def make_deployable_pool(
    session: Session,
    *,
    instances: list[Instance],
    state_dir: str,
    socket: str | None = None,
    backend: str = "storefront",
    min_up: str = "66%",
    service: str = "shop",
    pool: str = "shop-pool",
) -> None:
    """A business service with one pool of local storefront instances, behind HAProxy if given."""
    make_ci(session, service, "business_service", criticality=1)
    make_ci(session, f"{service}-app")
    deploy: dict[str, object] = {"target": {"driver": "local", "state_dir": state_dir}}
    if socket:
        deploy["load_balancer"] = {"driver": "haproxy", "socket": socket, "backend": backend}
    make_ci(session, pool, "service_pool", min_up=min_up, attributes={"deploy": deploy})
    relate(session, service, "depends_on", f"{service}-app")
    relate(session, f"{service}-app", "depends_on", pool)
    for instance in instances:
        attributes = {"port": instance.port, "lb_server": instance.lb_server}
        make_ci(session, instance.key, "instance", attributes=attributes)
        relate(session, instance.key, "member_of", pool)


def make_held_deployment(db: Database, *, pool: str, finished: bool = False) -> int:
    """A deployment recorded but never started (or already aborted): for API checks."""
    fast = RolloutSettings(bake_s=0, health_timeout_s=0.2, drain_timeout_s=0.2)
    data = DeploymentCreate(pool=pool, version="v9", environment="staging", settings=fast)
    with db.session(write=True) as session:
        deployment = deploy_service.create_deployment(session, actor=SYSTEM, data=data)
        if finished:
            deploy_service.set_state(
                session, actor=SYSTEM, deployment=deployment, state="aborted", reason="test"
            )
        session.commit()
        return deployment.id


def make_integration(
    db: Database, name: str = "am", rules: list[dict[str, str]] | None = None
) -> str:
    """An Alertmanager integration; returns its token."""
    from flywheel.incident import integrations
    from flywheel.incident.schemas import CIRuleIn, IntegrationCreate

    data = IntegrationCreate(
        name=name, ci_rules=None if rules is None else [CIRuleIn(**r) for r in rules]
    )
    with db.session(write=True) as session:
        _, token = integrations.create_integration(session, actor=SYSTEM, data=data)
        session.commit()
    return token


def am_alert(
    fingerprint: str,
    status: str = "firing",
    *,
    starts_at: str = "2026-01-01T00:00:00Z",
    ends_at: str = "0001-01-01T00:00:00Z",
    **labels: str,
) -> dict[str, object]:
    """One alert as Alertmanager's webhook sends it."""
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", **labels},
        "annotations": {"summary": f"errors on {labels.get('instance', '?')}"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


def am_payload(*alerts: dict[str, object], status: str = "firing") -> dict[str, object]:
    """An Alertmanager webhook body (version 4) carrying the alerts."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "flywheel",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


SN_COLUMNS = [
    "number",
    "incident_state",
    "active",
    "reassignment_count",
    "reopen_count",
    "sys_mod_count",
    "made_sla",
    "caller_id",
    "opened_by",
    "opened_at",
    "sys_created_by",
    "sys_created_at",
    "sys_updated_by",
    "sys_updated_at",
    "contact_type",
    "location",
    "category",
    "subcategory",
    "u_symptom",
    "cmdb_ci",
    "impact",
    "urgency",
    "priority",
    "assignment_group",
    "assigned_to",
    "knowledge",
    "u_priority_confirmation",
    "notify",
    "problem_id",
    "rfc",
    "vendor",
    "caused_by",
    "closed_code",
    "resolved_by",
    "resolved_at",
    "closed_at",
]


def sn_row(number: str, state: str, updated: str, mod: int = 0, **cells: str) -> dict[str, str]:
    """One row of a ServiceNow incident export (an update), '?' where nothing is given."""
    row = dict.fromkeys(SN_COLUMNS, "?")
    row.update(
        number=number,
        incident_state=state,
        sys_updated_at=updated,
        sys_mod_count=str(mod),
        opened_at="1/3/2016 09:00",
        priority="3 - Moderate",
        impact="2 - Medium",
        urgency="2 - Medium",
        made_sla="true",
        reopen_count="0",
        category="Category 7",
        assignment_group="Group 1",
        sys_updated_by=f"Updated by {mod}",
    )
    row.update(cells)
    return row


def write_sn_export(path: Path, rows: list[dict[str, str]]) -> Path:
    """A gzip-compressed export file with these rows."""
    import csv
    import gzip

    with gzip.open(path, "wt", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=SN_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass(frozen=True)
class Bake:
    """One bake of a recorded run: when it ended and the traffic the load balancer counted."""

    finished_at: datetime
    requests: int
    errors: int = 0
    old_requests: int = 0
    old_errors: int = 0
    state: str = "done"


def record_deployment(
    session: Session,
    *,
    service: str,
    state: str = "succeeded",
    environment: str = "production",
    started_at: datetime,
    finished_at: datetime | None,
    change_id: int | None = None,
    rollback_of: int | None = None,
    bakes: list[Bake] | None = None,
    rolled_out_at: datetime | None = None,
) -> Deployment:
    """A deployment run as the engine would have recorded it (no processes), with its bakes."""
    deployment = Deployment(
        service=service,
        pool=f"{service}-pool",
        environment=environment,
        version_label=f"v{next(_serial)}",
        change_id=change_id,
        rollback_of=rollback_of,
        workflow_id=f"wf-{next(_serial)}",
        state=state,
        requested_by="tests",
        created_at=started_at,
        started_at=started_at,
        finished_at=finished_at,
    )
    session.add(deployment)
    session.flush()
    seq = count(1)
    if rolled_out_at is not None:
        session.add(_step(deployment.id, next(seq), "enable", started_at, rolled_out_at, {}))
    for bake in bakes or []:
        evidence = {
            "new": {"requests": bake.requests, "errors": bake.errors},
            "old": {"requests": bake.old_requests, "errors": bake.old_errors},
        }
        detail = {"verdict": "recorded", "evidence": evidence}
        start = bake.finished_at - timedelta(seconds=10)
        session.add(
            _step(deployment.id, next(seq), "bake", start, bake.finished_at, detail, bake.state)
        )
    session.flush()
    return deployment


def _step(
    deployment_id: int,
    seq: int,
    action: str,
    started_at: datetime,
    finished_at: datetime,
    detail: dict[str, object],
    state: str = "done",
) -> DeploymentStep:
    return DeploymentStep(
        deployment_id=deployment_id,
        seq=seq,
        phase="deploy",
        batch=0,
        action=action,
        instances=["i1"],
        state=state,
        detail=detail,
        started_at=started_at,
        finished_at=finished_at,
    )


def record_change(
    session: Session,
    *,
    service: str,
    created_at: datetime,
    commits: list[datetime | None],
    close_code: str | None = "successful",
    change_type: str = "normal",
    state: str = "closed",
    approved_at: datetime | None = None,
    updated_at: datetime | None = None,
) -> ChangeRequest:
    """A change as the lifecycle would have left it, with commits authored at given times."""
    change = ChangeRequest(
        type=change_type,
        state=state,
        service=service,
        title=f"change {next(_serial)}",
        requested_by="pipeline",
        close_code=close_code,
        created_at=created_at,
        updated_at=updated_at or created_at,
        commits=[
            ChangeCommit(position=i, sha=f"{next(_serial):040x}", authored_at=at)
            for i, at in enumerate(commits)
        ],
    )
    session.add(change)
    session.flush()
    if approved_at is not None:
        session.add(
            ChangeTransition(
                change_id=change.id,
                from_state="authorize",
                to_state="scheduled",
                at=approved_at,
                actor="cab",
            )
        )
        session.flush()
    return change


def record_incident(
    session: Session,
    *,
    service: str,
    priority: int,
    opened_at: datetime,
    resolved_at: datetime | None = None,
    rollback_at: datetime | None = None,
) -> Incident:
    """An incident as intake would have recorded it; `rollback_at` adds a rollback entry."""
    incident = Incident(
        title=f"{service} broken",
        state="resolved" if resolved_at else "triggered",
        priority=priority,
        urgency=1,
        impact_level=1,
        service=service,
        opened_at=opened_at,
        resolved_at=resolved_at,
    )
    session.add(incident)
    session.flush()
    if rollback_at is not None:
        event = IncidentEvent(
            incident_id=incident.id, at=rollback_at, kind="rollback", actor="tests", summary=""
        )
        session.add(event)
    return incident


def make_probe(db: Database, name: str, ci_key: str, url: str, **fields: object) -> int:
    """A committed HTTP probe of a CI, due at once; returns its id."""
    from flywheel.incident import probe_service
    from flywheel.incident.probe_schemas import ProbeCreate

    data = ProbeCreate.model_validate({"name": name, "ci_key": ci_key, "url": url, **fields})
    with db.session(write=True) as session:
        probe = probe_service.create_probe(session, actor=SYSTEM, data=data)
        session.commit()
        return probe.id


def make_incident(
    db: Database,
    *,
    service: str = "checkout",
    title: str = "DiskFull on db1",
    opened_at: datetime | None = None,
    ci_keys: list[str] | None = None,
    source: str = "alerts",
    state: str = "resolved",
) -> int:
    """An incident as alert intake or an import leaves it (resolved by default): its id."""
    from flywheel.incident.models import Incident

    at = opened_at or utcnow() - timedelta(days=1)
    with db.session(write=True) as session:
        incident = Incident(
            title=title,
            state=state,
            priority=3,
            urgency=2,
            impact_level=2,
            service=service,
            ci_keys=ci_keys or [],
            opened_at=at,
            resolved_at=at + timedelta(hours=1) if state == "resolved" else None,
            source=source,
        )
        session.add(incident)
        session.commit()
        return incident.id


class TrackerServer:
    """A local HTTP server standing in for a team's tracker: records the issues posted to it."""

    def __init__(self, status: int = 201) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.status = status
        self.received: list[dict[str, object]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                owner.received.append(json.loads(self.rfile.read(length)))
                self.send_response(owner.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/issues"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TrackerServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port_url() -> str:
    """A local URL nothing listens on."""
    from tests.support import free_port

    return f"http://127.0.0.1:{free_port()}/issues"


def make_delivery(db: Database, incident_id: int, *, status: str = "failed") -> int:
    """A notification delivery of an incident (failed by default, so it can be retried)."""
    from flywheel.incident.escalation_models import NotificationDelivery

    with db.session(write=True) as session:
        row = NotificationDelivery(
            incident_id=incident_id,
            dedupe_key=f"tests:{next(_serial)}",
            event="opened",
            recipient="target",
            recipient_kind="user",
            channel="webhook",
            address="http://127.0.0.1:9/hook",
            message={},
            status=status,
            attempts=1,
            last_error="HTTP 500",
        )
        session.add(row)
        session.commit()
        return row.id


def make_problem_board(db: Database) -> dict[str, int]:
    """Recurring incidents: one suggestion accepted (with an RCA and a known error), one open.

    Returns the ids: 'problem', 'known_error', 'open_suggestion'.
    """
    from flywheel.problem import known_error_service, suggestion_service
    from flywheel.problem import service as problem_service
    from flywheel.problem.schemas import KnownErrorCreate, RcaIn
    from flywheel.problem.suggest import Rules

    now = utcnow()
    for day in (1, 2, 3):
        make_incident(db, opened_at=now - timedelta(days=day), ci_keys=["db1"])
        make_incident(
            db, service="search", title="SlowQuery on s1", opened_at=now - timedelta(days=day)
        )
    with db.session(write=True) as session:
        made = suggestion_service.run(session, actor=SYSTEM, rules=Rules(by_ci=False))
        disk = next(s for s in made if "diskfull" in s.value.lower())
        slow = next(s for s in made if "slowquery" in s.value.lower())
        problem = suggestion_service.accept(
            session, actor=SYSTEM, suggestion_id=disk.id, title="db1 disk fills up"
        )
        rca = RcaIn.model_validate(
            {
                "version": problem.version,
                "five_whys": ["the disk filled", "logs were not rotated"],
                "contributing_factors": ["no disk alert below 90%"],
                "root_cause": "log rotation was switched off by a config change",
                "category": "operational/procedural",
            }
        )
        problem_service.record_rca(session, actor=SYSTEM, problem_id=problem.id, data=rca)
        known = known_error_service.create(
            session,
            actor=SYSTEM,
            data=KnownErrorCreate(
                problem=problem.number,
                title="db1 disk full",
                workaround="delete rotated logs in /var/log/app",
                service="checkout",
                text="DiskFull",
            ),
        )
        session.commit()
        return {"problem": problem.id, "known_error": known.id, "open_suggestion": slow.id}
