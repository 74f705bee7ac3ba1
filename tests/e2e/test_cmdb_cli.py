"""`flywheel cmdb`, run as an operator would run it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, func, select

from flywheel.cmdb.models import ConfigurationItem
from flywheel.config import normalize_database_url
from tests.e2e.conftest import Cli
from tests.support import fresh_postgres_database, postgres_server_url

ESTATE = """\
types:
  - name: payment_gateway
    description: A payment provider's endpoint
    attribute_schema:
      type: object
      properties: {region: {type: string}}
      required: [region]
teams:
  - {key: payments, name: Payments team, description: Owns checkout}
cis:
  - {key: shop, name: Storefront, type: business_service, criticality: 1, owner_team: payments}
  - {key: web-pool, name: Web pool, type: service_pool, min_up: 2}
  - {key: pay, name: Payments, type: external_service}
  - {key: gw-eu, name: EU gateway, type: payment_gateway, attributes: {region: eu}}
  - {key: t-anna, name: Anna's shop, type: tenant, criticality: 1}
  - {key: t-bob, name: Bob's shop, type: tenant, criticality: 2}
relationships:
  - {source: shop, type: depends_on, target: web-pool}
  - {source: shop, type: depends_on, target: pay, optional: true}
  - {source: pay, type: depends_on, target: gw-eu}
  - {source: t-anna, type: uses, target: shop}
  - {source: t-bob, type: uses, target: shop}
"""

HOSTS = """\
key,name,type,criticality,attr.rack,attr.ssd,attr.serial
h1,Host 1,host,2,12,true,"""
HOSTS += '"007"\nh2,Host 2,host,2,14,false,\nh3,Host 3,host,2,14,,\n'

INSTANCES = """\
key,name,type
web-1,Web 1,instance
web-2,Web 2,instance
web-3,Web 3,instance
"""

LINKS = """\
source,type,target
web-1,member_of,web-pool
web-2,member_of,web-pool
web-3,member_of,web-pool
web-1,runs_on,h1
web-2,runs_on,h2
web-3,runs_on,h3
"""


def one_line(text: str) -> str:
    """Rich wraps long lines; compare messages with the wrapping undone."""
    return " ".join(text.split())


def load_estate(cli: Cli, tmp_path: Path) -> None:
    """Import the sample estate from a YAML file and three CSV files."""
    files = {
        "estate.yaml": ESTATE,
        "hosts.csv": HOSTS,
        "instances.csv": INSTANCES,
        "links.csv": LINKS,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        cli("cmdb", "import", str(tmp_path / name))


def count_cis(url: str) -> int:
    engine = create_engine(normalize_database_url(url))
    with engine.connect() as conn:
        found = conn.execute(select(func.count(ConfigurationItem.id))).scalar_one()
    engine.dispose()
    return int(found)


@contextmanager
def fresh_cli(cli: Cli, tmp_path: Path) -> Iterator[Cli]:
    """A Cli on a second, empty database of the same backend."""
    url = cli.env["FLYWHEEL_DATABASE_URL"]
    if url.startswith("sqlite"):
        tmp_path.mkdir(parents=True, exist_ok=True)
        env = {**cli.env, "FLYWHEEL_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
        yield Cli(env)
        return
    server = postgres_server_url()
    assert server is not None
    with fresh_postgres_database(server, prefix="flywheel_e2e") as fresh:
        yield Cli({**cli.env, "FLYWHEEL_DATABASE_URL": fresh})


def test_add_show_list_and_relate_cis(cli: Cli) -> None:
    cli("cmdb", "ci", "add", "db-main", "--name", "Main DB", "--type", "database",
        "--criticality", "1", "--attr", "engine=postgres", "--attr", "port=5432")  # fmt: skip
    cli("cmdb", "ci", "add", "orders", "--name", "Orders", "--type", "application")
    added = cli("cmdb", "rel", "add", "orders", "depends_on", "db-main", "--optional")
    assert "orders depends_on db-main" in added.stdout
    shown = cli("cmdb", "ci", "show", "db-main").stdout
    assert "Main DB" in shown and '"port": 5432' in shown and '"engine": "postgres"' in shown
    assert "orders" in shown and "depends_on" in shown and "yes" in shown
    listed = cli("cmdb", "ci", "list", "--type", "database").stdout
    assert "db-main" in listed and "orders" not in listed
    history = cli("cmdb", "ci", "history", "db-main").stdout
    assert "ci.create" in history and "rel.create" in history


def test_bad_cli_input_is_one_clear_line(cli: Cli, tmp_path: Path) -> None:
    unknown = cli("cmdb", "ci", "add", "x", "--name", "X", "--type", "ufo", check=False)
    assert unknown.returncode == 1
    assert "unknown CI type 'ufo'" in one_line(unknown.stderr)
    assert "Traceback" not in unknown.stderr
    bad_attr = cli("cmdb", "ci", "add", "x", "--name", "X", "--type", "host",
                   "--attr", "rack", check=False)  # fmt: skip
    assert bad_attr.returncode == 1 and "expected NAME=VALUE" in bad_attr.stderr
    bad_crit = cli("cmdb", "ci", "add", "x", "--name", "X", "--type", "host",
                   "--criticality", "7", check=False)  # fmt: skip
    assert bad_crit.returncode == 1 and "criticality" in bad_crit.stderr
    ghost = cli("cmdb", "rel", "add", "x", "runs_on", "y", check=False)
    assert ghost.returncode == 1 and "no configuration item 'x'" in ghost.stderr
    bad_type = cli("cmdb", "rel", "add", "x", "hugs", "y", check=False)
    assert bad_type.returncode == 2 and "hugs" in bad_type.stderr
    missing = cli("cmdb", "ci", "show", "nope", check=False)
    assert missing.returncode == 1 and "no configuration item 'nope'" in missing.stderr
    no_file = cli("cmdb", "import", str(tmp_path / "gone.csv"), check=False)
    assert no_file.returncode == 1 and "gone.csv: cannot read it" in one_line(no_file.stderr)
    unwritable = cli("cmdb", "export", "-o", str(tmp_path / "no" / "x.yaml"), check=False)
    assert unwritable.returncode == 1 and "cannot write" in unwritable.stderr
    assert "Traceback" not in no_file.stderr + unwritable.stderr


def test_import_yaml_and_csv_then_reimport_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    load_estate(cli, tmp_path)
    again = one_line(cli("cmdb", "import", str(tmp_path / "estate.yaml")).stdout)
    assert "CIs: 0 created, 0 updated, 6 unchanged" in again
    assert "relationships: 0 created, 5 unchanged" in again
    assert "CI types" not in again, "types and teams that exist are not created again"
    links = one_line(cli("cmdb", "import", str(tmp_path / "links.csv")).stdout)
    assert "relationships: 0 created, 6 unchanged" in links
    shown = cli("cmdb", "ci", "show", "h1").stdout
    assert '"rack": 12' in shown and '"ssd": true' in shown and '"serial": "007"' in shown
    assert count_cis(cli.env["FLYWHEEL_DATABASE_URL"]) == 12


def test_a_bad_row_names_file_and_line_and_its_batch_is_not_written(
    cli: Cli, tmp_path: Path
) -> None:
    rows = [f"h{n},Host {n},host" for n in range(1, 6)] + ["h6,Host 6,ufo", "h7,Host 7,host"]
    path = tmp_path / "hosts.csv"
    path.write_text("key,name,type\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = cli("cmdb", "import", str(path), "--batch-size", "2", check=False)
    message = one_line(result.stderr)
    assert result.returncode == 1, result.stderr
    assert f"{path}:7: unknown CI type 'ufo'" in message
    assert "2 earlier batch(es) with 4 rows stay committed" in message
    assert "Traceback" not in result.stderr
    assert count_cis(cli.env["FLYWHEEL_DATABASE_URL"]) == 4
    ghost_team = tmp_path / "owned.csv"
    ghost_team.write_text("key,name,type,owner_team\nh9,Host 9,host,ghost\n", encoding="utf-8")
    orphan = one_line(cli("cmdb", "import", str(ghost_team), check=False).stderr)
    assert f"{ghost_team}:2: unknown owner_team 'ghost' (create the team or list it" in orphan
    invalid = tmp_path / "invalid.jsonl"
    invalid.write_text('{"key": "a", "name": "A", "type": "host", "criticality": 9}\n')
    rejected = one_line(cli("cmdb", "import", str(invalid), check=False).stderr)
    assert f"{invalid}:1: criticality" in rejected and "nothing was imported" in rejected


def test_export_then_import_into_a_fresh_database_round_trips(cli: Cli, tmp_path: Path) -> None:
    load_estate(cli, tmp_path)
    exported = cli("cmdb", "export").stdout
    assert "key: h1" in exported and "serial: '007'" in exported
    assert exported.startswith("types:\n- name: payment_gateway\n")
    assert "teams:\n- key: payments\n  name: Payments team\n  description: Owns checkout\n" in (
        exported
    )
    (tmp_path / "out.yaml").write_text(exported, encoding="utf-8")
    wrote = cli("cmdb", "export", "--format", "csv", "--output", str(tmp_path / "out.csv"))
    assert "out.types.csv" in one_line(wrote.stdout) and "in this order" in one_line(wrote.stdout)
    cli("cmdb", "export", "--output", str(tmp_path / "out.jsonl"))
    cli("cmdb", "export", "--output", str(tmp_path / "out.json"))
    files = {
        "yaml": ["out.yaml"],
        "csv": ["out.types.csv", "out.teams.csv", "out.csv", "out.relationships.csv"],
        "jsonl": ["out.jsonl"],
        "json": ["out.json"],
    }
    for fmt, names in files.items():
        with fresh_cli(cli, tmp_path / fmt) as fresh:
            fresh("db", "upgrade")
            for name in names:
                fresh("cmdb", "import", str(tmp_path / name))
            assert fresh("cmdb", "export").stdout == exported, fmt
            shown = fresh("cmdb", "ci", "show", "web-pool").stdout
            assert "min_up" in shown and " 2" in shown, fmt
    tenants = cli("cmdb", "export", "--format", "json", "--type", "tenant").stdout
    assert [c["key"] for c in json.loads(tenants)["cis"]] == ["t-anna", "t-bob"]
    assert len(json.loads(tenants)["relationships"]) == 2


def test_impact_shows_services_redundancy_and_tenants(cli: Cli, tmp_path: Path) -> None:
    load_estate(cli, tmp_path)
    one = one_line(cli("cmdb", "impact", "h1").stdout)
    assert "h1: degraded" in one
    assert "shop degraded" in one and "redundancy left: 0" in one
    assert "tenants affected: 2" in one
    assert "h1 → web-1 → web-pool → shop" in one
    two = json.loads(cli("cmdb", "impact", "h1", "--what-if", "h2", "--json", "--top", "1").stdout)
    assert two["status"] == "down"
    assert two["business_services"][0]["status"] == "down"
    assert two["tenants_affected"] == 2
    assert [t["key"] for t in two["top_tenants"]] == ["t-anna"]
    optional = one_line(cli("cmdb", "impact", "pay").stdout)
    assert "shop degraded" in optional
    deps = cli("cmdb", "deps", "shop", "--depth", "1").stdout
    assert "web-pool" in deps and "pay" in deps and "web-1" not in deps
    ghost = cli("cmdb", "impact", "nope", check=False)
    assert ghost.returncode == 1 and "nope" in ghost.stderr
