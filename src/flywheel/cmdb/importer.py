"""CMDB import files (YAML, JSON, JSON Lines, CSV) as records that know their line; no I/O to a DB.

A `Source` is any iterable of `Record(line, kind, data)` plus a name, so a discovery
adapter can feed the same batching and import path as a file (`batching.batches`).
CSV and JSON Lines are streamed; YAML and JSON documents are parsed whole (they are
written by people). Records are CI types, teams, CIs or relationships; a CSV file
holds one kind, told by its header.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

import yaml

from flywheel.errors import InvalidInput

Kind = Literal["type", "team", "ci", "relationship"]
KINDS: tuple[Kind, ...] = ("type", "team", "ci", "relationship")  # the order they import in
SECTIONS: dict[str, Kind] = {
    "types": "type",
    "teams": "team",
    "cis": "ci",
    "relationships": "relationship",
}
FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
FORMATS[".csv"] = "csv"
CI_COLUMNS = ("key", "name", "type", "environment", "status", "criticality", "owner_team", "min_up")
REL_COLUMNS = ("source", "type", "target", "optional")
TYPE_COLUMNS = ("name", "description", "attribute_schema")
TEAM_COLUMNS = ("key", "name", "description")
JSON_COLUMNS = frozenset({"attribute_schema"})  # cells read as JSON (as attr.* cells are)
ATTR_PREFIX = "attr."

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Record(NamedTuple):
    """One CI or relationship as read, with the line (or item number) it came from."""

    line: int
    kind: Kind
    data: dict[str, Any]


@dataclass
class Source:
    """Records from a file or an adapter; `cis_first` when no CI follows a relationship."""

    name: str
    records: Iterable[Record]
    cis_first: bool = False
    total: int | None = None


class ImportFileError(InvalidInput):
    """A file or row that cannot be read, named by file and line."""

    def __init__(self, name: str, line: int | None, message: str) -> None:
        where = f"{name}:{line}" if line is not None else name
        super().__init__(f"{where}: {message}", details={"line": line, "problem": message})
        self.line = line


def cell_value(text: str) -> Any:
    """A cell as JSON when it reads as a number, boolean, null, list, object or quoted string."""
    stripped = text.strip()
    if stripped and (stripped[0] in '-0123456789[{"' or stripped in ("true", "false", "null")):
        try:
            return json.loads(stripped, parse_constant=_no_constant)
        except ValueError:
            return text
    return text


def cell_text(value: Any) -> str:
    """The inverse of cell_value: text that reads back as the same value."""
    if isinstance(value, str) and value and cell_value(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def source_from(name: str, rows: Iterable[tuple[int, str, dict[str, Any]]]) -> Source:
    """A Source from any iterable of (line or item number, kind, fields), e.g. discovery."""
    return Source(name, (_record(name, line, data, kind) for line, kind, data in rows))


def read_file(path: Path, fmt: str | None = None) -> Source:
    """The records of an import file; the format comes from the extension unless given."""
    fmt = fmt or FORMATS.get(path.suffix.lower())
    name = str(path)
    if fmt not in ("yaml", "json", "jsonl", "csv"):
        known = ", ".join(sorted(set(FORMATS.values())))
        raise ImportFileError(name, None, f"unknown format (give --format: {known})")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ImportFileError(name, None, f"cannot read it: {exc.strerror}") from exc
    if fmt == "csv":
        return Source(name, _csv_records(path, name), True, max(count_lines(path) - 1, 0))
    if fmt == "jsonl":
        return Source(name, _jsonl_records(path, name), False, count_lines(path))
    text = _read_text(path, name)
    records = _yaml_records(text, name) if fmt == "yaml" else _json_records(text, name)
    return Source(name, records, True, len(records))


def count_lines(path: Path) -> int:
    """Lines in a file, counted in binary chunks."""
    lines, last = 0, b"\n"
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def _read_text(path: Path, name: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(name, None, f"not UTF-8 text ({exc.reason})") from exc


def _record(name: str, line: int, data: object, kind: str | None) -> Record:
    """Check an item's shape and kind: a stated kind wins, source/target mean relationship."""
    if not isinstance(data, dict):
        raise ImportFileError(name, line, f"expected an object, got {type(data).__name__}")
    stated = data.pop("kind", None)
    if stated is not None and kind is not None and stated != kind:
        raise ImportFileError(name, line, f"kind '{stated}' in a list of {kind} items")
    found = stated or kind or ("relationship" if "source" in data or "target" in data else "ci")
    if found not in KINDS:
        known = ", ".join(KINDS)
        raise ImportFileError(name, line, f"unknown kind '{found}' (expected one of {known})")
    return Record(line, cast(Kind, found), data)


def _csv_records(path: Path, name: str) -> Iterator[Record]:
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        try:
            header = [h.strip() for h in next(reader, [])]
            kind, to_row = _csv_kind(name, header), _CsvRow(name, header)
            start = reader.line_num + 1
            for row in reader:
                if any(row):
                    yield Record(start, kind, to_row(start, row))
                start = reader.line_num + 1
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportFileError(name, reader.line_num + 1, f"unreadable CSV: {exc}") from exc


def _csv_kind(name: str, header: list[str]) -> Kind:
    """The kind of rows a CSV header announces; missing or unknown columns fail.

    source/target: relationships; attribute_schema: CI types; key and description
    (without type): teams; anything else: CIs.
    """
    if not header:
        raise ImportFileError(name, 1, "empty file: expected a header row")
    kind = _header_kind(set(header))
    required, allowed = _CSV_KINDS[kind]
    missing = [c for c in required if c not in header]
    if missing:
        raise ImportFileError(name, 1, f"header lacks column(s) {', '.join(missing)}")
    unknown = [h for h in header if h not in allowed and not _attr_column(kind, h)]
    if unknown:
        raise ImportFileError(name, 1, f"unknown column(s) {', '.join(unknown)}")
    if len(set(header)) != len(header):
        raise ImportFileError(name, 1, "a column appears twice in the header")
    return kind


def _header_kind(columns: set[str]) -> Kind:
    if columns & {"source", "target"}:
        return "relationship"
    if "attribute_schema" in columns:
        return "type"
    if {"key", "description"} <= columns and "type" not in columns:
        return "team"
    return "ci"


_CSV_KINDS: dict[Kind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "relationship": (("source", "type", "target"), REL_COLUMNS),
    "type": (("name",), TYPE_COLUMNS),
    "team": (("key", "name"), TEAM_COLUMNS),
    "ci": (("key", "name", "type"), CI_COLUMNS),
}


def _attr_column(kind: Kind, column: str) -> bool:
    return kind == "ci" and column.startswith(ATTR_PREFIX) and len(column) > len(ATTR_PREFIX)


_FILLED = itemgetter(1)  # a (column, cell) pair whose cell is not empty


class _CsvRow:
    """Turns CSV cells into a record's fields; empty cells are left out, attr.* nest."""

    def __init__(self, name: str, header: list[str]) -> None:
        self.name, self.header, self.width = name, header, len(header)
        self.attrs = [(h, h[len(ATTR_PREFIX) :]) for h in header if h.startswith(ATTR_PREFIX)]
        self.json = [h for h in header if h in JSON_COLUMNS]

    def __call__(self, line: int, row: list[str]) -> dict[str, Any]:
        if len(row) != self.width:
            message = f"{len(row)} cells but the header has {self.width}"
            raise ImportFileError(self.name, line, message)
        data: dict[str, Any] = dict(filter(_FILLED, zip(self.header, row, strict=True)))
        if self.attrs:
            attributes = {a: cell_value(data.pop(h)) for h, a in self.attrs if h in data}
            if attributes:
                data["attributes"] = attributes
        for column in self.json:
            if column in data:
                data[column] = cell_value(data[column])
        return data


def _jsonl_records(path: Path, name: str) -> Iterator[Record]:
    with path.open(encoding="utf-8-sig") as stream:
        line = 0
        try:
            for line, text in enumerate(stream, 1):
                if not text.strip():
                    continue
                try:
                    data = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ImportFileError(name, line, f"not valid JSON: {exc.msg}") from exc
                yield _record(name, line, data, None)
        except UnicodeDecodeError as exc:
            raise ImportFileError(name, line + 1, f"not UTF-8 text ({exc.reason})") from exc


def _yaml_records(text: str, name: str) -> list[Record]:
    """Compose the document, then construct item by item so each keeps its line."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        sections = _yaml_sections(name, root)
        return [
            _record(name, node.start_mark.line + 1, loader.construct_object(node, deep=True), kind)
            for kind in KINDS
            for node in sections.get(kind, [])
        ]
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ImportFileError(name, line, f"not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ImportFileError(name, None, f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def _yaml_section(name: str, key: yaml.Node, value: yaml.Node) -> tuple[str, list[yaml.Node]]:
    line = key.start_mark.line + 1
    if not isinstance(key, yaml.ScalarNode) or key.value not in SECTIONS:
        shown = key.value if isinstance(key, yaml.ScalarNode) else "?"
        known = ", ".join(SECTIONS)
        raise ImportFileError(name, line, f"unknown section '{shown}' (expected {known})")
    if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null"):
        return key.value, []
    if not isinstance(value, yaml.SequenceNode):
        raise ImportFileError(name, line, f"'{key.value}' must be a list")
    return key.value, list(value.value)


def _yaml_sections(name: str, root: yaml.Node | None) -> dict[Kind, list[yaml.Node]]:
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        line = root.start_mark.line + 1
        raise ImportFileError(name, line, f"expected a mapping with {', '.join(SECTIONS)}")
    found = [_yaml_section(name, key, value) for key, value in root.value]
    return {SECTIONS[key]: nodes for key, nodes in found}


def _json_records(text: str, name: str) -> list[Record]:
    """Walk the document with raw_decode so each item's line is known exactly."""
    walker = _JsonWalker(text, name)
    try:
        items = walker.document()
    except json.JSONDecodeError as exc:
        raise ImportFileError(name, exc.lineno, f"not valid JSON: {exc.msg}") from exc
    return [_record(name, line, data, kind) for kind in KINDS for line, data in items.get(kind, [])]


class _JsonWalker:
    """Just enough of a JSON object walk to find where each section item starts."""

    def __init__(self, text: str, name: str) -> None:
        self.text, self.name, self.pos = text, name, 0
        self.decoder = json.JSONDecoder(parse_constant=_no_constant)
        self._line, self._line_pos = 1, 0

    def document(self) -> dict[Kind, list[tuple[int, Any]]]:
        found: dict[Kind, list[tuple[int, Any]]] = {}
        if self._skip() is None:
            return found
        self._expect("{")
        first = True
        while self._skip() != "}":
            if not first:
                self._expect(",")
            first = False
            self._skip()
            line, key = self._value()
            self._skip()
            self._expect(":")
            if key not in SECTIONS:
                raise ImportFileError(self.name, line, f"unknown section {json.dumps(key)}")
            found[SECTIONS[key]] = self._section(key)
        self.pos += 1
        if self._skip() is not None:
            raise ImportFileError(self.name, self.line(), "extra data after the document")
        return found

    def _section(self, key: str) -> list[tuple[int, Any]]:
        line = self.line()
        if self._skip() != "[":
            _, value = self._value()
            if value is None:
                return []
            raise ImportFileError(self.name, line, f"'{key}' must be a list")
        self.pos += 1
        items: list[tuple[int, Any]] = []
        while self._skip() != "]":
            if items:
                self._expect(",")
                self._skip()
            items.append(self._value())
        self.pos += 1
        return items

    def _value(self) -> tuple[int, Any]:
        line = self.line()
        value, self.pos = self.decoder.raw_decode(self.text, self.pos)
        return line, value

    def _skip(self) -> str | None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        self.pos = pos
        return text[pos] if pos < len(text) else None

    def _expect(self, char: str) -> None:
        if self._skip() != char:
            raise json.JSONDecodeError(f"Expecting '{char}'", self.text, self.pos)
        self.pos += 1

    def line(self) -> int:
        self._line += self.text.count("\n", self._line_pos, self.pos)
        self._line_pos = self.pos
        return self._line
