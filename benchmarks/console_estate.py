"""A seeded estate for measuring and photographing the console, made by the product's own services.

An e-commerce platform: seven business services, each an application on a pool of local
instances with a database, behind two load balancers, partners, and tenants using the
storefront, cart and checkout. Changes are opened by a pipeline (risk-scored and decided by
the built-in policy: most flow, risky ones wait for the CAB), some rejected, the approved
ones deployed; deployments have their steps recorded as a real run records them.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from flywheel.auth import service as auth_service
from flywheel.auth.actor import Actor, system_actor
from flywheel.auth.roles import Role
from flywheel.auth.schemas import UserCreate
from flywheel.change import governance
from flywheel.change import service as change_service
from flywheel.change.schemas import ChangeCreate, WindowCreate
from flywheel.cmdb import bulk
from flywheel.cmdb.schemas import ImportBatch
from flywheel.db import Database
from flywheel.deploy import service as deploy_service
from flywheel.deploy.actions import BOUNCE
from flywheel.deploy.schemas import DeploymentCreate, RolloutSettings
from flywheel.incident import intake
from flywheel.incident.cirules import DEFAULT_RULES, parse_rules
from flywheel.incident.grouping import Policy
from flywheel.incident.incoming import AlertStatus, normalise
from flywheel.problem import known_error_service
from flywheel.problem import service as problem_service
from flywheel.problem.schemas import KnownErrorCreate, ProblemCreate, RcaIn
from flywheel.slo import service as slo_service
from flywheel.slo.schemas import SloCreate

SYSTEM = system_actor("seed")
PASSWORD = "flywheel-demo-password"
CI_RULES = parse_rules(DEFAULT_RULES)
SERVICES = ("storefront", "cart", "checkout", "orders", "inventory", "billing", "marketing")
CRITICALITY = {"storefront": 1, "cart": 1, "checkout": 1, "orders": 2, "inventory": 2}
PARTNERS = ("payment-provider", "marketplace-a", "marketplace-b", "price-comparison")
PEOPLE = {
    "admin": Role.ADMIN,
    "carl": Role.CHANGE_MANAGER,
    "cleo": Role.CHANGE_MANAGER,
    "dana": Role.DEVELOPER,
    "otto": Role.OPERATOR,
    "audrey": Role.AUDITOR,
    "pipeline": Role.DEVELOPER,
}


@dataclass(frozen=True)
class Scale:
    """How big the estate is."""

    tenants: int = 2000
    instances: int = 4
    changes: int = 600
    deployments: int = 150
    incidents: int = 120  # over the last 90 days; the last few stay open


def _cmdb(scale: Scale, state_dir: str) -> ImportBatch:
    cis: list[dict[str, object]] = []
    rels: list[dict[str, object]] = []
    for lb in ("lb-1", "lb-2"):
        cis.append({"key": lb, "name": lb.upper(), "type": "load_balancer", "criticality": 1})
    for host in range(1, 13):
        cis.append({"key": f"host-{host:02d}", "name": f"Host {host}", "type": "host"})
    for partner in PARTNERS:
        cis.append({"key": partner, "name": partner, "type": "external_service"})
    for index, svc in enumerate(SERVICES):
        crit = CRITICALITY.get(svc, 3)
        deploy = {"target": {"driver": "local", "state_dir": f"{state_dir}/{svc}"}}
        cis += [
            {"key": svc, "name": svc.title(), "type": "business_service", "criticality": crit},
            {"key": f"{svc}-app", "name": f"{svc} application", "type": "application"},
            {
                "key": f"{svc}-pool",
                "name": f"{svc} pool",
                "type": "service_pool",
                "min_up": "66%",
                "attributes": {"deploy": deploy},
            },
            {"key": f"{svc}-db", "name": f"{svc} database", "type": "database"},
        ]
        rels += [
            {"source": svc, "type": "depends_on", "target": f"{svc}-app"},
            {"source": f"{svc}-app", "type": "depends_on", "target": f"{svc}-pool"},
            {"source": f"{svc}-app", "type": "depends_on", "target": f"{svc}-db"},
            {"source": f"{svc}-pool", "type": "balanced_by", "target": f"lb-{index % 2 + 1}"},
            {"source": f"{svc}-db", "type": "runs_on", "target": f"host-{index + 1:02d}"},
        ]
        for n in range(1, scale.instances + 1):
            key = f"{svc}-web-{n}"
            cis.append(
                {"key": key, "name": key, "type": "instance", "attributes": {"port": 9000 + n}}
            )
            rels.append({"source": key, "type": "member_of", "target": f"{svc}-pool"})
            rels.append({"source": key, "type": "runs_on", "target": f"host-{n + 7:02d}"})
    rels.append({"source": "checkout-app", "type": "depends_on", "target": "payment-provider"})
    rels.append({"source": "orders-app", "type": "connects_to", "target": "marketplace-a"})
    rels.append({"source": "orders-app", "type": "connects_to", "target": "marketplace-b"})
    rels.append({"source": "marketing-app", "type": "connects_to", "target": "price-comparison"})
    rels.append({"source": "checkout", "type": "depends_on", "target": "cart"})
    rels.append({"source": "cart", "type": "depends_on", "target": "inventory"})
    for t in range(1, scale.tenants + 1):
        key = f"tenant-{t:05d}"
        cis.append(
            {"key": key, "name": f"Retailer {t}", "type": "tenant", "criticality": 1 + t % 4}
        )
        rels += [{"source": key, "type": "uses", "target": svc} for svc in SERVICES[:3]]
    return ImportBatch.model_validate({"cis": cis, "relationships": rels})


def _people(session: Session) -> dict[str, Actor]:
    actors = {}
    for name, role in PEOPLE.items():
        data = UserCreate(username=name, roles=[role], full_name=name.title(), password=PASSWORD)
        actors[name] = auth_service.actor_for(
            auth_service.create_user(session, actor=SYSTEM, data=data)
        )
    return actors


def _windows(session: Session, now: datetime) -> None:
    governance.create_window(
        session,
        actor=SYSTEM,
        data=WindowCreate(
            name="Weekend freeze",
            kind="blackout",
            rrule="FREQ=WEEKLY;BYDAY=SA",
            start=datetime(2026, 1, 3, 0, 0, tzinfo=UTC),
            duration_minutes=24 * 60,
            override_roles=["change_manager"],
            reason="No changes while retailers run weekend sales",
        ),
    )
    sale = (now + timedelta(days=9)).replace(hour=0, minute=0, second=0, microsecond=0)
    governance.create_window(
        session,
        actor=SYSTEM,
        data=WindowCreate(
            name="Spring sale freeze",
            kind="blackout",
            scope="ci:checkout-db",
            include_dependents=True,
            start=sale,
            end=sale + timedelta(days=3),
            reason="Peak traffic",
        ),
    )
    governance.create_window(
        session,
        actor=SYSTEM,
        data=WindowCreate(
            name="Database maintenance",
            kind="maintenance",
            rrule="FREQ=WEEKLY;BYDAY=TU",
            start=datetime(2026, 1, 6, 2, 0, tzinfo=UTC),
            duration_minutes=120,
        ),
    )


def _metrics(rng: random.Random, risky: bool) -> dict[str, float]:
    if risky:
        return {"la": rng.randint(4000, 15000), "ld": rng.randint(500, 3000), "nf": 120}
    return {"la": rng.randint(1, 60), "ld": rng.randint(0, 20), "nf": rng.randint(1, 4)}


def _open(session: Session, actor: Actor, rng: random.Random, n: int, now: datetime) -> int:
    svc = rng.choice(SERVICES[3:] if n % 3 else SERVICES)
    risky = n % 9 == 0
    planned = now + timedelta(days=rng.randint(-20, 25), hours=rng.randint(8, 17))
    data = ChangeCreate(
        service=svc,
        title=f"Deploy {svc} 2.{n // 10}.{n % 10}",
        version=f"2.{n // 10}.{n % 10}",
        code_metrics=_metrics(rng, risky),
        commits=[{"sha": f"{n:07x}abc", "author": "dana", "message": f"{svc}: improvement {n}"}],
        planned_start=planned if n % 4 == 0 else None,
        planned_end=planned + timedelta(hours=1) if n % 4 == 0 else None,
        external_id=f"run-{n}",
    )
    change, _ = change_service.open_change(session, actor=actor, data=data)
    return change.id


def _run(session: Session, change_id: int, version: str, pool: str, ok: bool) -> None:
    fast = RolloutSettings(batch_size=2, bake_s=0)
    data = DeploymentCreate(pool=pool, version=version, change_id=change_id, settings=fast)
    dep = deploy_service.create_deployment(session, actor=SYSTEM, data=data)
    deploy_service.set_state(session, actor=SYSTEM, deployment=dep, state="running", reason="go")
    seq = 0
    for index, batch in enumerate(dep.plan["batches"]):
        for action in ("gate", *BOUNCE):
            seq += 1
            deploy_service.begin_step(
                session,
                deployment_id=dep.id,
                seq=seq,
                phase="deploy",
                batch=index,
                action=action,
                instances=batch,
            )
            failed = not ok and action == "bake" and index == 1
            detail = _bake(failed) if action == "bake" else {}
            deploy_service.finish_step(
                session,
                actor=SYSTEM,
                deployment_id=dep.id,
                seq=seq,
                state="failed" if failed else "done",
                detail=detail,
            )
            if failed:
                deploy_service.set_state(
                    session, actor=SYSTEM, deployment=dep, state="rolled_back", reason="bake failed"
                )
                return
    deploy_service.set_state(
        session, actor=SYSTEM, deployment=dep, state="succeeded", reason="all batches healthy"
    )


def _bake(failed: bool) -> dict[str, object]:
    rate = 0.31 if failed else 0.002
    evidence = {
        "new": {"requests": 900, "errors": int(900 * rate), "error_rate": rate},
        "old": {"requests": 1800, "errors": 2, "error_rate": 0.0011},
    }
    if failed:
        return {"reason": f"new version failed 279 of 900 requests ({rate:.1%})"}
    return {"verdict": f"900 requests, {rate:.2%} errors", "evidence": evidence}


def seed(db: Database, scale: Scale, *, now: datetime) -> dict[str, int]:
    """Fill an empty, migrated database; returns what was made."""
    state_dir = tempfile.mkdtemp(prefix="fw-console-estate-")
    rng = random.Random(7)
    with db.session(write=True) as session:
        people = _people(session)
        bulk.import_batch(session, actor=SYSTEM, batch=_cmdb(scale, state_dir))
        _windows(session, now)
        session.commit()
    opened = []
    for n in range(1, scale.changes + 1):
        with db.session(write=True) as session:
            opened.append(_open(session, people["pipeline"], rng, n, now))
            session.commit()
    deployed = 0
    for change_id in opened:
        if deployed >= scale.deployments:
            break
        with db.session(write=True) as session:
            change = change_service.get_change(session, change_id=change_id)
            ok_now, _ = change_service.deployment_gate(session, change_id=change_id)
            if not ok_now:
                continue
            _run(
                session,
                change_id,
                change.version_label or "1",
                f"{change.service}-pool",
                rng.random() > 0.1,
            )
            session.commit()
            deployed += 1
    with db.session(write=True) as session:
        made = _problems(session, people["otto"])
        session.commit()
    return {
        "changes": len(opened),
        "deployments": deployed,
        "tenants": scale.tenants,
        "problems": made,
    }


def _alert(key: str, status: AlertStatus, n: int, now: datetime) -> list[object]:
    labels = {"alertname": "HighErrorRate", "instance": key, "severity": "critical"}
    return [
        normalise(
            status=status,
            labels=labels,
            annotations={"summary": f"errors on {key}"},
            starts_at=now,
            ends_at=now if status is AlertStatus.RESOLVED else None,
            fingerprint=f"bench-{n}",
            severity=None,
            generator_url=None,
            rules=CI_RULES,
            now=now,
        )
    ]


def _incidents(db: Database, scale: Scale, now: datetime) -> int:
    """Alerts through the intake: incidents over 90 days, each resolved 20-90 min later.

    The last three stay open and are opened now, after the seeded deployments: they have
    suspects.
    """
    rng = random.Random(11)
    targets = [f"{svc}-{part}" for svc in SERVICES for part in ("db", "web-1", "app")]
    for n in range(scale.incidents):
        at = now - timedelta(days=90) + timedelta(days=90) * n / scale.incidents
        key = rng.choice(targets)
        if n >= scale.incidents - 3:
            at, key = datetime.now(UTC), ("checkout-db", "cart-web-1", "orders-app")[n % 3]
        with db.session(write=True) as session:
            firing = _alert(key, AlertStatus.FIRING, n, at)
            intake.receive(
                session, actor=SYSTEM, source="bench", alerts=firing, policy=Policy(), now=at
            )
            if n < scale.incidents - 3:
                end = at + timedelta(minutes=rng.randint(20, 90))
                resolved = _alert(key, AlertStatus.RESOLVED, n, end)
                intake.receive(
                    session, actor=SYSTEM, source="bench", alerts=resolved, policy=Policy(), now=end
                )
            session.commit()
    return scale.incidents


def _slos(db: Database) -> int:
    """An availability SLO on bake traffic for every service, and on incidents for the critical."""
    made = 0
    with db.session(write=True) as session:
        for svc in SERVICES:
            specs = [{"name": "availability", "objective": 99.9, "source": "deployments"}]
            if svc in CRITICALITY:
                specs.append({"name": "uptime", "objective": 99.95, "source": "incidents"})
            for spec in specs:
                data = SloCreate.model_validate({"service": svc, **spec})
                slo_service.create_slo(session, actor=SYSTEM, data=data)
                made += 1
        session.commit()
    return made


def seed_response(db: Database, scale: Scale, *, now: datetime) -> dict[str, int]:
    """Incidents and SLOs on top of `seed`: what the incident and service-level pages show."""
    return {"incidents": _incidents(db, scale, now), "slos": _slos(db)}


PROBLEMS = [  # (service, title, root cause, category, known error's workaround)
    ("checkout", "Checkout pool runs out of DB connections", "timeout path leaks", "software", ""),
    ("cart", "Cart slow after host reboots", "", None, ""),
    ("orders", "Marketplace sync stalls", "vendor API throttles", "third_party", "resync by hand"),
    ("billing", "Invoice run misses tenants", "runbook skips a step", "operational/procedural", ""),
]


def _problems(session: Session, actor: Actor) -> int:
    """A few problems at different stages, through the problem service."""
    for service, title, cause, category, workaround in PROBLEMS:
        data = ProblemCreate(title=title, service=service)
        problem = problem_service.create_problem(session, actor=actor, data=data, incident_ids=[])
        if cause:
            rca = RcaIn.model_validate(
                {
                    "version": problem.version,
                    "root_cause": cause,
                    "category": category,
                    "five_whys": [title, cause],
                }
            )
            problem_service.record_rca(session, actor=actor, problem_id=problem.id, data=rca)
        if workaround:
            known = KnownErrorCreate(
                problem=problem.number,
                title=title,
                workaround=workaround,
                service=service,
                text=title,
            )
            known_error_service.create(session, actor=actor, data=known)
    return len(PROBLEMS)
