"""`flywheel cmdb`: configuration items, relationships, impact, import and export."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flywheel.cli.common import cli_actor, console, database, write_session
from flywheel.cmdb import batching, exporter, importer, service
from flywheel.cmdb.loader import ImportTotals, import_source
from flywheel.cmdb.models import CmdbChange
from flywheel.cmdb.schemas import CICreate, ImpactOut, RelationshipCreate
from flywheel.cmdb.vocabulary import Lifecycle, RelType
from flywheel.errors import InvalidInput

app = typer.Typer(
    help="Configuration items, relationships and impact analysis.", no_args_is_help=True
)
ci_app = typer.Typer(help="Configuration items.", no_args_is_help=True)
rel_app = typer.Typer(help="Relationships between configuration items.", no_args_is_help=True)
app.add_typer(ci_app, name="ci")
app.add_typer(rel_app, name="rel")

M = TypeVar("M", bound=BaseModel)
MAX_BATCH = 50_000


def _validated(model: type[M], **values: object) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise InvalidInput(batching.describe(exc)) from exc


def _attributes(pairs: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--attr '{pair}': expected NAME=VALUE")
        found[name.strip()] = importer.cell_value(value)
    return found


@ci_app.command("add")
def ci_add(
    key: str,
    name: str = typer.Option(..., help="Display name."),
    ci_type: str = typer.Option(..., "--type", help="CI type, e.g. host, service_pool."),
    env: str = typer.Option("production", "--env", help="Environment."),
    status: Lifecycle = typer.Option(Lifecycle.OPERATIONAL, help="Lifecycle status."),
    criticality: int = typer.Option(3, help="1 (most critical) to 4."),
    team: str | None = typer.Option(None, "--team", help="Owning team's key."),
    min_up: str | None = typer.Option(None, "--min-up", help="Pools: a count or '66%'."),
    attr: list[str] = typer.Option([], "--attr", help="NAME=VALUE; repeat. JSON values convert."),
) -> None:
    """Add a configuration item."""
    data = _validated(
        CICreate,
        key=key,
        name=name,
        type=ci_type,
        environment=env,
        status=status,
        criticality=criticality,
        owner_team=team,
        min_up=min_up,
        attributes=_attributes(attr),
    )
    with write_session() as session:
        ci = service.create_ci(session, actor=cli_actor(), data=data)
        session.commit()
    console.print(f"created CI [bold]{escape(ci.key)}[/] ({ci.type})")


@ci_app.command("show")
def ci_show(key: str) -> None:
    """Show a CI and its relationships."""
    with database() as db, db.session() as session:
        ci = service.get_ci(session, key=key)
        rels = service.relationships_of(session, key=key)
        details = Table.grid(padding=(0, 2))
        for label, value in exporter.ci_row(ci).items():
            shown = json.dumps(value) if isinstance(value, dict) else str(value)
            details.add_row(f"[bold]{label}[/]", escape(shown))
        details.add_row("[bold]version[/]", str(ci.version))
        details.add_row("[bold]updated[/]", ci.updated_at.isoformat(timespec="seconds"))
    console.print(details)
    table = Table("source", "type", "target", "optional", title="relationships")
    for rel, source, target in rels:
        table.add_row(escape(source), rel.type, escape(target), "yes" if rel.optional else "")
    console.print(table if rels else "no relationships")


@ci_app.command("list")
def ci_list(
    ci_type: str | None = typer.Option(None, "--type", help="Only this CI type."),
    env: str | None = typer.Option(None, "--env", help="Only this environment."),
    team: str | None = typer.Option(None, "--team", help="Only this owning team."),
    limit: int = typer.Option(100, min=1, max=10_000, help="At most this many."),
) -> None:
    """List CIs."""
    with database() as db, db.session() as session:
        cis = service.list_cis(
            session, ci_type=ci_type, environment=env, owner_team=team, limit=limit
        )
    table = Table("key", "name", "type", "env", "status", "crit", "team", "min_up")
    table.columns[0].overflow = "fold"  # keys are never cut short
    for ci in cis:
        row = [ci.key, ci.name, ci.type, ci.environment, ci.status, str(ci.criticality)]
        table.add_row(*map(escape, row), escape(ci.owner_team or ""), ci.min_up or "")
    console.print(table)
    if len(cis) == limit:
        console.print(f"(first {limit}; raise --limit for more)")


@ci_app.command("history")
def ci_history(key: str, limit: int = typer.Option(100, min=1, max=1000)) -> None:
    """Who changed a CI (and its relationships), newest first."""
    with database() as db, db.session() as session:
        changes = service.history(session, key=key, limit=limit)
    table = Table("when", "actor", "op", "change")
    for change in changes:
        when = change.occurred_at.isoformat(timespec="seconds")
        table.add_row(when, escape(change.actor), change.op, escape(_change_text(change)))
    console.print(table)


def _change_text(change: CmdbChange) -> str:
    before, after = change.before or {}, change.after or {}
    if change.op.startswith("rel."):
        rel = after or before
        return f"{rel.get('source')} {rel.get('type')} {rel.get('target')}"
    if not before:
        return "created"
    keys = [k for k in after if before.get(k) != after.get(k)]
    return ", ".join(f"{k}: {before.get(k)!r} → {after.get(k)!r}" for k in keys)


@rel_app.command("add")
def rel_add(
    source: str,
    rel_type: RelType = typer.Argument(..., metavar="TYPE", help="How SOURCE needs TARGET."),
    target: str = typer.Argument(...),
    optional: bool = typer.Option(False, "--optional", help="A soft dependency."),
) -> None:
    """Relate two CIs: SOURCE needs TARGET."""
    data = _validated(
        RelationshipCreate, source=source, type=rel_type, target=target, optional=optional
    )
    with write_session() as session:
        service.add_relationship(session, actor=cli_actor(), data=data)
        session.commit()
    console.print(f"{escape(data.source)} {data.type} {escape(data.target)}")


@app.command("impact")
def impact(
    key: str,
    what_if: list[str] = typer.Option([], "--what-if", help="Another CI failing too; repeat."),
    top: int = typer.Option(10, "--top", min=0, max=1000, help="How many top tenants to list."),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
) -> None:
    """If KEY (and the --what-if CIs) fail: services impaired, tenants affected, and why."""
    with database() as db, db.session() as session:
        result = service.impact(session, keys=[key, *what_if], top_tenants=top)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    _print_impact(result)


def _print_impact(result: ImpactOut) -> None:
    colour = {"down": "red", "degraded": "yellow"}.get(result.status, "green")
    console.print(f"[bold]{escape(', '.join(result.failed))}[/]: [{colour}]{result.status}[/]")
    console.print(escape(result.summary))
    services = Table("business service", "status", "redundancy left", "path")
    for s in result.business_services:
        left = "" if s.redundancy_left is None else str(s.redundancy_left)
        services.add_row(escape(s.key), s.status, left, escape(" → ".join(s.path)))
    if result.business_services:
        console.print(services)
    console.print(f"tenants affected: [bold]{result.tenants_affected:,}[/]")
    tenants = Table("top tenant", "name", "criticality")
    for t in result.top_tenants:
        tenants.add_row(escape(t.key), escape(t.name), str(t.criticality))
    if result.top_tenants:
        console.print(tenants)


@app.command("deps")
def deps(
    key: str, depth: int | None = typer.Option(None, "--depth", min=1, max=100, help="Max hops.")
) -> None:
    """What KEY needs, directly and transitively."""
    with database() as db, db.session() as session:
        result = service.dependencies(session, key=key, max_depth=depth)
    table = Table("depth", "key", "type", title=f"{escape(key)} needs")
    for dep in result.dependencies:
        table.add_row(str(dep.depth), escape(dep.key), dep.type)
    console.print(table if result.dependencies else f"{escape(key)} needs nothing")


@contextmanager
def _progress(total: int | None) -> Iterator[Callable[[ImportTotals], None]]:
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("import", total=total)
        yield lambda totals: progress.update(task, completed=totals.rows)


@app.command("import")
def import_file(
    path: Path = typer.Argument(..., metavar="FILE", help="YAML, JSON, JSON Lines or CSV."),
    fmt: str | None = typer.Option(None, "--format", help="yaml, json, jsonl or csv."),
    batch_size: int = typer.Option(5000, "--batch-size", min=1, max=MAX_BATCH),
) -> None:
    """Upsert CI types, teams, CIs and relationships by key, one transaction per batch."""
    source = importer.read_file(path, fmt)
    with database() as db, _progress(source.total) as advance:
        totals = import_source(
            db, source, actor=cli_actor(), batch_size=batch_size, on_batch=advance
        )
    console.print(
        f"imported {escape(source.name)}: {totals.batches} batch(es), {totals.rows:,} rows"
    )
    console.print(
        f"CIs: {totals.cis_created:,} created, {totals.cis_updated:,} updated, "
        f"{totals.cis_unchanged:,} unchanged; relationships: {totals.relationships_created:,} "
        f"created, {totals.relationships_unchanged:,} unchanged"
    )
    if totals.types_created or totals.teams_created:
        console.print(
            f"CI types: {totals.types_created:,} created; teams: {totals.teams_created:,} created"
        )


@app.command("export")
def export(
    fmt: str | None = typer.Option(None, "--format", help="yaml (default), json, jsonl or csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
    ci_type: str | None = typer.Option(
        None, "--type", help="Only CIs of this type and the relationships that start at them."
    ),
) -> None:
    """Write custom CI types, owner teams, CIs and relationships for `flywheel cmdb import`."""
    fmt = fmt or (importer.FORMATS.get(output.suffix.lower()) if output else None) or "yaml"
    if fmt != "csv" and fmt not in exporter.WRITERS:
        raise InvalidInput(f"unknown format '{fmt}' (yaml, json, jsonl or csv)")
    if fmt == "csv" and output is None:
        raise InvalidInput("CSV export writes two files (CIs, relationships): give --output")
    try:
        written = _export(fmt, output, ci_type)
    except OSError as exc:
        raise InvalidInput(f"cannot write {exc.filename or output}: {exc.strerror}") from exc
    if len(written) > 2:
        console.print(f"wrote {escape(', '.join(map(str, written)))} (import them in this order)")
    elif written:
        console.print(f"wrote {escape(' and '.join(map(str, written)))}")


def _export(fmt: str, output: Path | None, ci_type: str | None) -> list[Path]:
    with database() as db, db.session() as session:
        if fmt == "csv" and output is not None:
            return exporter.write_csv(session, output, ci_type=ci_type)
        with _opened(output) as stream:
            exporter.WRITERS[fmt](stream, exporter.sections(session, ci_type))
    return [output] if output else []


@contextmanager
def _opened(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8") as stream:
        yield stream
