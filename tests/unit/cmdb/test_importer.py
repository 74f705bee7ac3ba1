"""Reading import files into records with line numbers, and grouping them into batches."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.cmdb import batching, importer
from flywheel.cmdb.importer import ImportFileError, Record
from flywheel.cmdb.schemas import CICreate, RelationshipCreate
from flywheel.cmdb.vocabulary import RelType

YAML = """\
# a small estate
relationships:
  - {source: i1, type: member_of, target: pool}
cis:
  - key: shop
    name: Shop
    type: business_service
  - key: pool
    name: Pool
    type: service_pool
    min_up: 1
  - {key: i1, name: I1, type: instance, attributes: {port: 8080}}
"""

JSON = """\
{
  "cis": [
    {"key": "shop", "name": "Shop", "type": "business_service"},

    {"key": "pool",
     "name": "Pool", "type": "service_pool"}
  ],
  "relationships": [{"source": "pool", "type": "depends_on", "target": "shop"}]
}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path, fmt: str | None = None) -> list[Record]:
    return list(importer.read_file(path, fmt).records)


def lines(records: list[Record]) -> list[tuple[int, str, str]]:
    return [(r.line, r.kind, r.data.get("key") or r.data["source"]) for r in records]


def test_yaml_items_keep_their_lines_and_cis_come_first(tmp_path: Path) -> None:
    records = read(write(tmp_path, "estate.yaml", YAML))
    assert lines(records) == [
        (5, "ci", "shop"),
        (8, "ci", "pool"),
        (12, "ci", "i1"),
        (3, "relationship", "i1"),
    ]
    assert records[2].data["attributes"] == {"port": 8080}


def test_json_items_keep_their_lines(tmp_path: Path) -> None:
    records = read(write(tmp_path, "estate.json", JSON))
    assert lines(records) == [(3, "ci", "shop"), (5, "ci", "pool"), (8, "relationship", "pool")]


def test_jsonl_kinds_are_stated_or_inferred(tmp_path: Path) -> None:
    text = (
        '{"kind": "relationship", "source": "a", "type": "runs_on", "target": "b"}\n'
        "\n"
        '{"key": "a", "name": "A", "type": "instance"}\n'
        '{"source": "a", "type": "depends_on", "target": "c"}\n'
    )
    records = read(write(tmp_path, "estate.jsonl", text))
    assert lines(records) == [(1, "relationship", "a"), (3, "ci", "a"), (4, "relationship", "a")]
    assert "kind" not in records[0].data


def test_csv_of_cis_with_attribute_columns(tmp_path: Path) -> None:
    text = (
        "key,name,type,criticality,attr.port,attr.tls,attr.zip,attr.note,attr.tags\n"
        'web,Web,application,1,8080,true,007,"two\nlines","[""a""]"\n'
        "db,DB,database,,,,,,\n"
    )
    records = read(write(tmp_path, "cis.csv", text))
    assert [(r.line, r.kind) for r in records] == [(2, "ci"), (4, "ci")]
    assert records[0].data["attributes"] == {
        "port": 8080,
        "tls": True,
        "zip": "007",
        "note": "two\nlines",
        "tags": ["a"],
    }
    assert records[1].data == {"key": "db", "name": "DB", "type": "database"}


def test_csv_of_relationships_is_told_by_its_header(tmp_path: Path) -> None:
    text = "source,type,target,optional\nweb,depends_on,db,true\nweb,runs_on,h1,\n"
    records = read(write(tmp_path, "rels.csv", text))
    assert [r.kind for r in records] == ["relationship", "relationship"]
    assert records[0].data == {
        "source": "web",
        "type": "depends_on",
        "target": "db",
        "optional": "true",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", 42),
        ("-1.5", -1.5),
        ("false", False),
        ("null", None),
        ('{"a": 1}', {"a": 1}),
        ('"42"', "42"),
        ("007", "007"),
        ("NaN", "NaN"),
        ("-Infinity", "-Infinity"),
        ("rack 12", "rack 12"),
    ],
)
def test_cell_values_convert_only_json_literals(value: str, expected: object) -> None:
    assert importer.cell_value(value) == expected


@pytest.mark.parametrize("value", ["42", "true", "", "plain", 7, 1.5, None, [1, "x"], {"k": "v"}])
def test_cell_text_reads_back_as_the_same_value(value: object) -> None:
    assert importer.cell_value(importer.cell_text(value)) == value


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.yaml", "cis:\n  - key: a\n    name: [unclosed\n", "bad.yaml:4: not valid YAML"),
        ("bad.yaml", "hosts:\n  - key: a\n", "bad.yaml:1: unknown section 'hosts'"),
        ("bad.yaml", "cis: 3\n", "bad.yaml:1: 'cis' must be a list"),
        ("bad.yaml", "cis:\n  - just text\n", "bad.yaml:2: expected an object, got str"),
        ("bad.json", '{"cis": [\n  {"key": "a"},\n  {"key": }\n]}', "bad.json:3: not valid JSON"),
        ("bad.json", '{"cis": [], "hosts": []}', 'bad.json:1: unknown section "hosts"'),
        ("bad.json", '{"cis": []} []', "bad.json:1: extra data"),
        ("bad.jsonl", '{"key": "a"}\n{"key": \n', "bad.jsonl:2: not valid JSON"),
        ("bad.jsonl", '{"kind": "host", "key": "a"}\n', "bad.jsonl:1: unknown kind 'host'"),
        ("bad.csv", "key,name\na,A\n", "bad.csv:1: header lacks column(s) type"),
        ("bad.csv", "key,name,type,colour\n", "bad.csv:1: unknown column(s) colour"),
        ("bad.csv", "key,name,type\na,A,host\nb,B\n", "bad.csv:3: 2 cells but the header has 3"),
        ("bad.csv", "", "bad.csv:1: empty file"),
    ],
)
def test_bad_files_name_the_line_and_problem(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ImportFileError) as caught:
        read(path)
    assert caught.value.message.startswith(f"{path.parent}/{expected}"), caught.value.message


def test_unknown_extension_or_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="unknown format"):
        importer.read_file(write(tmp_path, "estate.txt", "x"))
    with pytest.raises(ImportFileError, match="cannot read it: No such file"):
        importer.read_file(tmp_path / "missing.csv")
    with pytest.raises(ImportFileError, match="cannot read it: Is a directory"):
        importer.read_file(tmp_path, "csv")
    assert read(write(tmp_path, "estate.txt", YAML), "yaml")[0].data["key"] == "shop"


def rows(count: int, kind: str = "ci") -> list[tuple[int, str, dict[str, object]]]:
    if kind == "ci":
        return [(n, "ci", {"key": f"c{n}", "name": "C", "type": "host"}) for n in range(count)]
    return [
        (n, "relationship", {"source": f"c{n}", "type": "runs_on", "target": "c0"})
        for n in range(count)
    ]


def test_batches_put_every_ci_before_relationships_and_never_mix_them() -> None:
    mixed = [*rows(3, "relationship"), *rows(5)]
    source = importer.source_from("adapter", mixed)
    batches = list(batching.batches(source, 2))
    assert [(len(b.cis), len(b.relationships)) for b in batches] == [
        (2, 0),
        (2, 0),
        (1, 0),
        (0, 2),
        (0, 1),
    ]
    assert batches[3].relationships[0] == RelationshipCreate(
        source="c0", type=RelType.RUNS_ON, target="c0"
    )
    assert batches[3].line_of("relationships", 1) == 1
    assert batches[1].line_of("cis", 0) == 2


def test_held_relationships_spill_to_disk_and_come_back_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batching, "HOLD_BYTES", 100)
    source = importer.source_from("adapter", [*rows(50, "relationship"), *rows(1)])
    batches = list(batching.batches(source, 20))
    assert batches[0].cis == [CICreate(key="c0", name="C", type="host")]
    rel_lines = [line for b in batches[1:] for line in b.rel_lines]
    assert rel_lines == list(range(50))
    assert batches[-1].payload().relationships[-1].source == "c49"


def test_a_bad_row_is_reported_with_its_line_when_batching(tmp_path: Path) -> None:
    text = "key,name,type,criticality\na,A,host,1\nb,B,host,9\n"
    source = importer.read_file(write(tmp_path, "cis.csv", text))
    batches = batching.batches(source, 1)
    assert next(batches).cis[0].key == "a"
    with pytest.raises(ImportFileError, match=r"cis.csv:3: criticality: Input should be less"):
        next(batches)


def test_an_adapter_feeds_records_with_any_line_numbers() -> None:
    source = importer.source_from("discovery", [(7, "ci", {"key": "h", "name": "H", "type": "x"})])
    (batch,) = batching.batches(source, 10)
    assert batch.ci_lines == [7] and batch.payload().cis[0].type == "x"
    bad = importer.source_from("discovery", [(3, "relation", {"key": "h"})])
    with pytest.raises(ImportFileError, match="discovery:3: unknown kind 'relation'"):
        list(batching.batches(bad, 10))


def test_streamed_files_report_a_total_for_progress(tmp_path: Path) -> None:
    lines_ = [json.dumps({"key": f"k{n}", "name": "K", "type": "host"}) for n in range(5)]
    path = write(tmp_path, "big.jsonl", "\n".join(lines_))
    source = importer.read_file(path)
    assert source.total == 5 and not source.cis_first
    csv_source = importer.read_file(write(tmp_path, "c.csv", "key,name,type\na,A,host\n"))
    assert csv_source.total == 1 and csv_source.cis_first


def test_types_and_teams_come_before_cis_in_documents(tmp_path: Path) -> None:
    text = (
        "cis:\n  - {key: p1, name: P1, type: port, owner_team: net}\n"
        "teams:\n  - {key: net, name: Network}\n"
        "types:\n  - {name: port, attribute_schema: {type: object}}\n"
    )
    records = read(write(tmp_path, "estate.yaml", text))
    assert [(r.kind, r.line) for r in records] == [("type", 6), ("team", 4), ("ci", 2)]
    (batch,) = batching.batches(importer.read_file(tmp_path / "estate.yaml"), 10)
    assert batch.types[0].attribute_schema == {"type": "object"}
    assert batch.teams[0].key == "net" and batch.line_of("teams", 0) == 4
    lines_ = ['{"kind": "team", "key": "net", "name": "Network"}', '{"kind": "type", "name": "x"}']
    jsonl = read(write(tmp_path, "estate.jsonl", "\n".join(lines_)))
    assert [r.kind for r in jsonl] == ["team", "type"]


def test_csv_of_types_or_teams_is_told_by_its_header(tmp_path: Path) -> None:
    types = 'name,description,attribute_schema\nport,A port,"{""type"": ""object""}"\nrack,,\n'
    records = read(write(tmp_path, "t.types.csv", types))
    assert [r.kind for r in records] == ["type", "type"]
    assert records[0].data == {
        "name": "port",
        "description": "A port",
        "attribute_schema": {"type": "object"},
    }
    assert records[1].data == {"name": "rack"}
    teams = "key,name,description\nnet,Network,\n"
    assert read(write(tmp_path, "t.teams.csv", teams))[0] == Record(
        2, "team", {"key": "net", "name": "Network"}
    )
    with pytest.raises(ImportFileError, match="header lacks column"):
        read(write(tmp_path, "bad.csv", "description,attribute_schema\n"))


def test_a_bad_row_in_a_batch_is_named_by_its_own_line_and_fields() -> None:
    good = [(n, "ci", {"key": f"c{n}", "name": "C", "type": "host"}) for n in range(10, 14)]
    bad = (17, "ci", {"key": "bad key", "name": "", "type": "host"})
    source = importer.source_from("adapter", [*good, bad, (20, "ci", {"key": "x"})])
    with pytest.raises(ImportFileError) as caught:
        list(batching.batches(source, 10))
    assert caught.value.message.startswith("adapter:17: key: String should match pattern")
    assert "name: String should have at least 1 character" in caught.value.message


def test_prefetched_keeps_order_and_raises_where_the_error_was() -> None:
    def produce() -> Iterator[int]:
        yield from range(5)
        raise ImportFileError("f", 9, "broken")

    items = batching.prefetched(produce(), depth=1)
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(ImportFileError, match="f:9: broken"):
        next(items)


def test_prefetched_stops_its_producer_when_the_consumer_stops() -> None:
    closed = threading.Event()

    def produce() -> Iterator[int]:
        try:
            yield from range(1_000_000)
        finally:
            closed.set()

    items = batching.prefetched(produce(), depth=2)
    assert next(items) == 0
    items.close()
    assert closed.wait(5), "the producer's generator was not closed"
