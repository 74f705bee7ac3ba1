"""`flywheel incident import-servicenow` on a slice of the real ServiceNow export."""

from __future__ import annotations

import gzip
import json
from itertools import islice
from pathlib import Path

from tests.e2e.conftest import Cli
from tests.support import require_component

REAL = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "servicenow-incidents"
    / "incident_event_log.csv.gz"
)
ROWS = 3000


def _slice(tmp_path: Path) -> Path:
    require_component(REAL.exists(), f"the real ServiceNow export is missing: {REAL}")
    path = tmp_path / "slice.csv.gz"
    with gzip.open(REAL, "rt", newline="") as source, gzip.open(path, "wt", newline="") as out:
        out.writelines(islice(source, ROWS + 1))  # the header and ROWS updates
    return path


def test_import_of_real_rows_reports_and_is_idempotent(cli: Cli, tmp_path: Path) -> None:
    path = _slice(tmp_path)
    cli("init")
    first = json.loads(cli("incident", "import-servicenow", str(path), "--json").stdout)
    for key in (
        "incidents",
        "events",
        "skipped_rows",
        "sla_met_fraction",
        "mttr_hours_by_priority",
    ):
        assert key in first
    assert first["rows"] == ROWS
    assert first["created"] == first["incidents"] > 400
    assert first["events"] > first["incidents"]
    assert 0 < first["sla_met_fraction"] <= 1
    assert set(first["mttr_hours_by_priority"]) <= {"P1", "P2", "P3", "P4"}
    again = json.loads(cli("incident", "import-servicenow", str(path), "--json").stdout)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, first["incidents"])
    shown = cli("incident", "import-servicenow", str(path)).stdout
    assert f"{first['incidents']:,} incidents from {ROWS:,} rows" in shown


def test_missing_or_foreign_files_are_one_clean_line(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    missing = cli("incident", "import-servicenow", str(tmp_path / "nope.csv"), check=False)
    assert missing.returncode == 1 and "no file" in missing.stderr
    foreign = tmp_path / "other.csv"
    foreign.write_text("a,b\n1,2\n")
    refused = cli("incident", "import-servicenow", str(foreign), check=False)
    assert refused.returncode == 1
    assert "not a ServiceNow incident export" in " ".join(refused.stderr.split())
    assert "Traceback" not in refused.stderr
