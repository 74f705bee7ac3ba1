"""A synthetic two-year delivery history, bulk-inserted (COPY on PostgreSQL, executemany on SQLite).

At scale 1.0: 200 services, 1,000,000 production deployments (2 % of them rollback runs),
a change per deployment plus 5 % never deployed, ~5,000,000 commits, three lifecycle
transitions per change, the gate/enable/bake steps of two batches per run, and 50,000
incidents in a stand-in table (the incident domain is not on this branch).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from flywheel.db import UTCDateTime

DAY, HOUR, MINUTE = 86_400.0, 3600.0, 60.0
SERVICES = 200
STATES = (("succeeded", 0.92), ("rolled_back", 0.05), ("failed", 0.01), ("aborted", 0.02))
bench_metadata = sa.MetaData()
incidents_table = sa.Table(
    "bench_incidents",
    bench_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("service", sa.String(200), nullable=False),
    sa.Column("deployment_id", sa.Integer, nullable=True, index=True),
    sa.Column("priority", sa.String(4), nullable=False),
    sa.Column("detected_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("mitigated_at", UTCDateTime(), nullable=True),
)


def service_key(n: int) -> str:
    """The key of service n."""
    return f"svc-{n:03d}"


@dataclass
class Counts:
    """Rows written per table."""

    rows: dict[str, int] = field(default_factory=dict)


class Writer:
    """Bulk inserts of tuples, the fastest way each backend offers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.counts = Counts()

    def stamp(self, seconds: float | None) -> str | None:
        """A timestamp as each backend stores it (UTC; naive text on SQLite)."""
        if seconds is None:
            return None
        moment = datetime.fromtimestamp(seconds, UTC)
        if self.dialect == "sqlite":
            return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
        return moment.isoformat()

    def write(self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
        """Insert rows in chunks."""
        chunk: list[tuple[Any, ...]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= 50_000:
                self._flush(table, columns, chunk)
                chunk = []
        if chunk:
            self._flush(table, columns, chunk)

    def _flush(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            names = ", ".join(columns)
            if self.dialect == "sqlite":
                marks = ", ".join("?" for _ in columns)
                cursor.execute("BEGIN")  # Flywheel's engine leaves pysqlite in autocommit
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            else:
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        self.counts.rows[table] = self.counts.rows.get(table, 0) + len(rows)


@dataclass(frozen=True)
class Deployment:
    """What the generator decided about one run."""

    id: int
    service: int
    change_id: int
    state: str
    rollback_of: int | None
    started: float
    finished: float
    rolled_out: float
    verified: float | None


def _state(rng: random.Random) -> str:
    roll, acc = rng.random(), 0.0
    for state, share in STATES:
        acc += share
        if roll < acc:
            return state
    return "succeeded"


def plan_deployments(
    scale: float, now: float, rng: random.Random
) -> tuple[list[Deployment], dict[int, tuple[float, float, float]]]:
    """Runs over two years and, per change, when it was opened, approved and first committed."""
    total = round(1_000_000 * scale)
    weights = [1 / (k + 1) ** 0.8 for k in range(SERVICES)]
    starts = sorted(now - rng.random() * 730 * DAY for _ in range(total))
    services = rng.choices(range(SERVICES), weights=weights, k=total)
    last: dict[int, Deployment] = {}
    runs: list[Deployment] = []
    changes: dict[int, tuple[float, float, float]] = {}
    for i, (started, service) in enumerate(zip(starts, services, strict=True), start=1):
        previous = last.get(service)
        rollout = rng.uniform(5, 40) * MINUTE
        if previous is not None and previous.state == "succeeded" and rng.random() < 0.02:
            run = Deployment(
                i,
                service,
                previous.change_id,
                "succeeded",
                previous.id,
                started,
                started + rollout,
                started + rollout,
                None,
            )
        else:
            state = _state(rng)
            bake = rng.uniform(3, 15) * MINUTE
            verified = started + rollout + bake if state == "succeeded" else None
            run = Deployment(
                i,
                service,
                i,
                state,
                None,
                started,
                started + rollout + bake,
                started + rollout,
                verified,
            )
            queue = rng.expovariate(1 / (8 * HOUR))
            approval = rng.expovariate(1 / (3 * HOUR))
            opened = started - queue - approval
            changes[i] = (opened, opened + approval, opened - rng.expovariate(1 / (2 * DAY)))
        runs.append(run)
        last[service] = run
    return runs, changes


def _deployment_rows(w: Writer, runs: list[Deployment]) -> Iterator[tuple[Any, ...]]:
    for r in runs:
        yield (
            r.id,
            service_key(r.service),
            f"{service_key(r.service)}-pool",
            "production",
            f"v{r.id}",
            r.change_id,
            r.rollback_of,
            f"wf-{r.id}",
            r.state,
            "",
            "{}",
            "{}",
            "{}",
            "[]",
            "{}",
            "bench",
            w.stamp(r.started),
            w.stamp(r.started),
            w.stamp(r.finished),
            w.stamp(r.finished),
            1,
        )


def _step_rows(w: Writer, runs: list[Deployment], rng: random.Random) -> Iterator[tuple[Any, ...]]:
    step_id = 0
    for r in runs:
        if r.rollback_of is not None:
            continue
        half = (r.rolled_out - r.started) / 2
        bake_end = r.verified or r.finished
        plan = [("gate", 0, r.started, r.started, "done", "{}")]
        for batch in (0, 1):
            enabled = r.started + half * (batch + 1)
            baked = enabled + (bake_end - r.rolled_out) if batch else enabled + 60
            failing = batch == 1 and r.verified is None
            requests = rng.randint(500, 5000)
            errors = rng.randint(20, 200) if failing else int(requests * rng.random() * 0.0005)
            evidence = {"new": {"requests": requests, "errors": errors}, "old": None}
            detail = json.dumps({"verdict": "bench", "evidence": evidence})
            plan.append(("enable", batch, enabled - 30, enabled, "done", "{}"))
            plan.append(("bake", batch, enabled, baked, "failed" if failing else "done", detail))
        for seq, (action, batch, begun, ended, state, detail) in enumerate(plan, start=1):
            step_id += 1
            yield (
                step_id,
                r.id,
                seq,
                "deploy",
                batch,
                action,
                "[]",
                state,
                detail,
                w.stamp(begun),
                w.stamp(ended),
            )


def _change_rows(
    w: Writer, runs: list[Deployment], changes: dict[int, tuple[float, float, float]]
) -> Iterator[tuple[Any, ...]]:
    codes = {"succeeded": "successful", "rolled_back": "rolled_back", "failed": "failed"}
    outcome = {r.change_id: r for r in runs if r.rollback_of is None}
    for change_id, (opened, _approved, _committed) in changes.items():
        run = outcome.get(change_id)
        state = "closed" if run is not None else "authorize"
        code = codes.get(run.state, "rolled_back") if run is not None else None
        updated = run.finished + HOUR if run is not None else opened
        yield (
            change_id,
            "normal",
            state,
            service_key(run.service if run else change_id % SERVICES),
            f"change {change_id}",
            "",
            "",
            "",
            "pipeline",
            False,
            "{}",
            code,
            w.stamp(opened),
            w.stamp(updated),
            1,
        )


def _commit_rows(
    w: Writer, changes: dict[int, tuple[float, float, float]], rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    commit_id = 0
    for change_id, (opened, _approved, committed) in changes.items():
        n = max(1, min(20, round(rng.gammavariate(2.5, 2.0))))
        for position in range(n):
            commit_id += 1
            authored = committed + (opened - committed) * rng.random() if position else committed
            yield (commit_id, change_id, position, f"{commit_id:040x}", "dev", w.stamp(authored))


def _transition_rows(
    w: Writer, runs: list[Deployment], changes: dict[int, tuple[float, float, float]]
) -> Iterator[tuple[Any, ...]]:
    finished = {r.change_id: r.finished for r in runs if r.rollback_of is None}
    row_id = 0
    for change_id, (opened, approved, _committed) in changes.items():
        moves = [(None, "new", opened), ("authorize", "scheduled", approved)]
        if change_id in finished:
            moves.append(("review", "closed", finished[change_id] + HOUR))
        for before, after, at in moves:
            row_id += 1
            yield (row_id, change_id, before, after, w.stamp(at), "bench")


def _incident_rows(
    w: Writer, runs: list[Deployment], scale: float, rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    count = round(50_000 * scale)
    candidates = [r for r in runs if r.rollback_of is None]
    for i in range(1, count + 1):
        run = rng.choice(candidates)
        linked = rng.random() < 0.7
        detected = run.finished + rng.uniform(1, 6 * HOUR)
        mitigated = None if rng.random() < 0.01 else detected + rng.expovariate(1 / HOUR)
        priority = rng.choices(["P1", "P2", "P3", "P4"], weights=[1, 2, 4, 3])[0]
        yield (
            i,
            service_key(run.service),
            run.id if linked else None,
            priority,
            w.stamp(detected),
            w.stamp(mitigated),
        )


def generate(engine: Engine, *, scale: float, now: float, seed: int) -> dict[str, int]:
    """Write the whole history; rows per table."""
    rng = random.Random(seed)
    runs, changes = plan_deployments(scale, now, rng)
    extra_start = max(changes) + 1 if changes else 1
    for k in range(round(len(changes) * 0.05)):
        opened = now - rng.random() * 730 * DAY
        changes[extra_start + k] = (opened, opened + HOUR, opened - DAY)
    w = Writer(engine)
    w.write(
        "changes",
        [
            "id",
            "type",
            "state",
            "service",
            "title",
            "description",
            "implementation_plan",
            "backout_plan",
            "requested_by",
            "receipt",
            "links",
            "close_code",
            "created_at",
            "updated_at",
            "version",
        ],
        _change_rows(w, runs, changes),
    )
    w.write(
        "change_commits",
        ["id", "change_id", "position", "sha", "author", "authored_at"],
        _commit_rows(w, changes, rng),
    )
    w.write(
        "change_transitions",
        ["id", "change_id", "from_state", "to_state", "at", "actor"],
        _transition_rows(w, runs, changes),
    )
    w.write(
        "deployments",
        [
            "id",
            "service",
            "pool",
            "environment",
            "version_label",
            "change_id",
            "rollback_of",
            "workflow_id",
            "state",
            "status_reason",
            "settings",
            "plan",
            "drivers",
            "gates",
            "evidence",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "updated_at",
            "version",
        ],
        _deployment_rows(w, runs),
    )
    w.write(
        "deployment_steps",
        [
            "id",
            "deployment_id",
            "seq",
            "phase",
            "batch",
            "action",
            "instances",
            "state",
            "detail",
            "started_at",
            "finished_at",
        ],
        _step_rows(w, runs, rng),
    )
    bench_metadata.create_all(engine)
    w.write(
        "bench_incidents",
        ["id", "service", "deployment_id", "priority", "detected_at", "mitigated_at"],
        _incident_rows(w, runs, scale, rng),
    )
    return w.counts.rows
