"""Exporting the CMDB in the formats the importer reads back (YAML, JSON, JSON Lines, CSV)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import yaml
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from flywheel.cmdb.importer import ATTR_PREFIX, CI_COLUMNS, REL_COLUMNS, cell_text
from flywheel.cmdb.models import ConfigurationItem, Relationship

Item = dict[str, Any]
_PAGE = 5000
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def ci_row(ci: ConfigurationItem | Row[Any]) -> Item:
    """A CI as an import row: every field but empty optional ones, attributes sorted by name."""
    row: Item = {column: getattr(ci, column) for column in CI_COLUMNS}
    row = {k: v for k, v in row.items() if v is not None}
    if ci.attributes:
        row["attributes"] = dict(sorted(ci.attributes.items()))  # JSONB reorders keys anyway
    return row


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


def write_yaml(stream: TextIO, ci_rows: Iterable[Item], rel_rows: Iterable[Item]) -> None:
    """A YAML document with `cis` and `relationships` lists, written item by item."""
    for section, rows in (("cis", ci_rows), ("relationships", rel_rows)):
        stream.write(f"{section}:\n")
        empty = True
        for row in rows:
            stream.write(yaml.dump([row], Dumper=_Dumper, sort_keys=False, allow_unicode=True))
            empty = False
        if empty:
            stream.write("  []\n")


def write_json(stream: TextIO, ci_rows: Iterable[Item], rel_rows: Iterable[Item]) -> None:
    """A JSON document with `cis` and `relationships` lists, one item per line."""
    stream.write("{")
    for n, (section, rows) in enumerate((("cis", ci_rows), ("relationships", rel_rows))):
        stream.write(f'{"," if n else ""}\n"{section}": [')
        for i, row in enumerate(rows):
            stream.write(("," if i else "") + "\n  " + json.dumps(row, ensure_ascii=False))
        stream.write("\n]")
    stream.write("\n}\n")


def write_jsonl(stream: TextIO, ci_rows: Iterable[Item], rel_rows: Iterable[Item]) -> None:
    """JSON Lines: one object per line with its `kind`, CIs first."""
    for kind, rows in (("ci", ci_rows), ("relationship", rel_rows)):
        for row in rows:
            stream.write(json.dumps({"kind": kind, **row}, ensure_ascii=False) + "\n")


def write_csv(session: Session, path: Path, *, ci_type: str | None = None) -> Path:
    """CIs to `path` and relationships to `<stem>.relationships.csv`; the second path."""
    names = sorted({name for row in cis(session, ci_type) for name in row.get("attributes", {})})
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow([*CI_COLUMNS, *(ATTR_PREFIX + n for n in names)])
        writer.writerows(_ci_cells(row, names) for row in cis(session, ci_type))
    rels_path = path.with_name(f"{path.stem}.relationships{path.suffix or '.csv'}")
    with rels_path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(REL_COLUMNS)
        for row in relationships(session, ci_type):
            optional = "true" if row.get("optional") else ""
            writer.writerow([row["source"], row["type"], row["target"], optional])
    return rels_path


def _ci_cells(row: Item, names: list[str]) -> list[str]:
    attributes = row.get("attributes", {})
    cells = [str(row.get(column, "")) for column in CI_COLUMNS]
    return cells + [cell_text(attributes[n]) if n in attributes else "" for n in names]


WRITERS: dict[str, Callable[[TextIO, Iterable[Item], Iterable[Item]], None]] = {
    "yaml": write_yaml,
    "json": write_json,
    "jsonl": write_jsonl,
}
