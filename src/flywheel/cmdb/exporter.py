"""Exporting the CMDB in the formats the importer reads back (YAML, JSON, JSON Lines, CSV).

An export carries what an empty database needs to take it back: the custom CI types
(built-in ones exist everywhere) and the teams that own the exported CIs, before the
CIs and their relationships.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import yaml
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from flywheel.auth import service as auth_service
from flywheel.cmdb.importer import (
    ATTR_PREFIX,
    CI_COLUMNS,
    JSON_COLUMNS,
    REL_COLUMNS,
    TEAM_COLUMNS,
    TYPE_COLUMNS,
    cell_text,
)
from flywheel.cmdb.models import CIType, ConfigurationItem, Relationship

Item = dict[str, Any]
Sections = dict[str, Iterable[Item]]  # section name (types, teams, cis, relationships) -> rows
_PAGE = 5000
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def ci_row(ci: ConfigurationItem | Row[Any]) -> Item:
    """A CI as an import row: every field but empty optional ones, attributes sorted by name."""
    row: Item = {column: getattr(ci, column) for column in CI_COLUMNS}
    row = {k: v for k, v in row.items() if v is not None}
    if ci.attributes:
        row["attributes"] = dict(sorted(ci.attributes.items()))  # JSONB reorders keys anyway
    return row


def ci_types(session: Session, ci_type: str | None = None) -> list[Item]:
    """The custom CI types (or just `ci_type` if it is custom), by name."""
    query = select(CIType).where(CIType.builtin.is_(False)).order_by(CIType.name)
    if ci_type:
        query = query.where(CIType.name == ci_type)
    rows = []
    for found in session.scalars(query):
        row: Item = {"name": found.name}
        if found.description:
            row["description"] = found.description
        if found.attribute_schema is not None:
            row["attribute_schema"] = found.attribute_schema
        rows.append(row)
    return rows


def teams(session: Session, ci_type: str | None = None) -> list[Item]:
    """The teams that own exported CIs (key, name, description; members are not exported)."""
    query = select(ConfigurationItem.owner_team).where(ConfigurationItem.owner_team.is_not(None))
    if ci_type:
        query = query.where(ConfigurationItem.type == ci_type)
    rows = []
    for key in sorted({k for k in session.scalars(query.distinct()) if k is not None}):
        team = auth_service.get_team(session, key=key)
        row: Item = {"key": team.key, "name": team.name}
        if team.description:
            row["description"] = team.description
        rows.append(row)
    return rows


def sections(session: Session, ci_type: str | None = None) -> Sections:
    """Everything an export writes, section by section, in the order it imports."""
    return {
        "types": ci_types(session, ci_type),
        "teams": teams(session, ci_type),
        "cis": cis(session, ci_type),
        "relationships": relationships(session, ci_type),
    }


def cis(session: Session, ci_type: str | None = None) -> Iterator[Item]:
    """Every CI (of a type), streamed in id order."""
    query = select(*(getattr(ConfigurationItem, c) for c in (*CI_COLUMNS, "attributes")))
    if ci_type:
        query = query.where(ConfigurationItem.type == ci_type)
    query = query.order_by(ConfigurationItem.id).execution_options(yield_per=_PAGE)
    for row in session.execute(query):
        yield ci_row(row)


def relationships(session: Session, ci_type: str | None = None) -> Iterator[Item]:
    """Every relationship (starting at CIs of a type), streamed in id order."""
    source = ConfigurationItem.__table__.alias("s")
    target = ConfigurationItem.__table__.alias("t")
    query = (
        select(source.c.key, Relationship.type, target.c.key, Relationship.optional)
        .join(source, source.c.id == Relationship.source_id)
        .join(target, target.c.id == Relationship.target_id)
    )
    if ci_type:
        query = query.where(source.c.type == ci_type)
    query = query.order_by(Relationship.id).execution_options(yield_per=_PAGE)
    for source_key, rel_type, target_key, optional in session.execute(query):
        row: Item = {"source": source_key, "type": rel_type, "target": target_key}
        if optional:
            row["optional"] = True
        yield row


def _present(found: Sections) -> Iterator[tuple[str, Iterable[Item]]]:
    """Sections to write: types and teams only when there are some."""
    for section, rows in found.items():
        if section in ("cis", "relationships") or rows:
            yield section, rows


def write_yaml(stream: TextIO, found: Sections) -> None:
    """A YAML document with a list per section, written item by item."""
    for section, rows in _present(found):
        stream.write(f"{section}:\n")
        empty = True
        for row in rows:
            stream.write(yaml.dump([row], Dumper=_Dumper, sort_keys=False, allow_unicode=True))
            empty = False
        if empty:
            stream.write("  []\n")


def write_json(stream: TextIO, found: Sections) -> None:
    """A JSON document with a list per section, one item per line."""
    stream.write("{")
    for n, (section, rows) in enumerate(_present(found)):
        stream.write(f'{"," if n else ""}\n"{section}": [')
        for i, row in enumerate(rows):
            stream.write(("," if i else "") + "\n  " + json.dumps(row, ensure_ascii=False))
        stream.write("\n]")
    stream.write("\n}\n")


def write_jsonl(stream: TextIO, found: Sections) -> None:
    """JSON Lines: one object per line with its `kind`, in import order."""
    kinds = {"types": "type", "teams": "team", "cis": "ci", "relationships": "relationship"}
    for section, rows in _present(found):
        for row in rows:
            stream.write(json.dumps({"kind": kinds[section], **row}, ensure_ascii=False) + "\n")


def write_csv(session: Session, path: Path, *, ci_type: str | None = None) -> list[Path]:
    """CSV files in the order they import: `<stem>.types.csv` and `<stem>.teams.csv` (if
    there are any), the CIs to `path`, relationships to `<stem>.relationships.csv`."""
    written = []
    for section, columns, rows in (
        ("types", TYPE_COLUMNS, ci_types(session, ci_type)),
        ("teams", TEAM_COLUMNS, teams(session, ci_type)),
    ):
        if rows:
            written.append(_sibling(path, section))
            _write_plain_csv(written[-1], columns, rows)
    names = sorted({name for row in cis(session, ci_type) for name in row.get("attributes", {})})
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow([*CI_COLUMNS, *(ATTR_PREFIX + n for n in names)])
        writer.writerows(_ci_cells(row, names) for row in cis(session, ci_type))
    rels_path = _sibling(path, "relationships")
    with rels_path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(REL_COLUMNS)
        for row in relationships(session, ci_type):
            optional = "true" if row.get("optional") else ""
            writer.writerow([row["source"], row["type"], row["target"], optional])
    return [*written, path, rels_path]


def _sibling(path: Path, section: str) -> Path:
    return path.with_name(f"{path.stem}.{section}{path.suffix or '.csv'}")


def _write_plain_csv(path: Path, columns: tuple[str, ...], rows: list[Item]) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(c, row[c]) if c in row else "" for c in columns])


def _cell(column: str, value: Any) -> str:
    return cell_text(value) if column in JSON_COLUMNS else str(value)


def _ci_cells(row: Item, names: list[str]) -> list[str]:
    attributes = row.get("attributes", {})
    cells = [str(row.get(column, "")) for column in CI_COLUMNS]
    return cells + [cell_text(attributes[n]) if n in attributes else "" for n in names]


WRITERS: dict[str, Callable[[TextIO, Sections], None]] = {
    "yaml": write_yaml,
    "json": write_json,
    "jsonl": write_jsonl,
}
