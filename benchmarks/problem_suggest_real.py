"""Problem suggestions over the real ServiceNow export, scored against its problem links (issue 8).

Imports the export into a scratch SQLite database (or uses `--database`), runs the same
suggestion logic `POST /api/v1/problems/suggestions` runs (no tuning on the answer: the
product defaults plus a looser variant, both fixed before looking), and compares the groups
with the export's own `problem_id` links. Prints one JSON line.

A real problem group is *recovered* when one suggestion holds at least two of its incidents
(*fully* when it holds all of them); a suggestion *matches no real problem* when no real
problem has two or more of its incidents in it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from flywheel import migrate
from flywheel.auth.actor import system_actor
from flywheel.config import Settings
from flywheel.db import Database
from flywheel.incident import service as incident_service
from flywheel.incident.servicenow_import import import_export
from flywheel.problem import service as problem_service
from flywheel.problem.suggest import Rules, Suggestion, suggest

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT.parent / "shared" / "data" / "servicenow-incidents" / "incident_event_log.csv.gz"
VARIANTS = {
    "default (14 days, 3 incidents, CI or signature)": Rules(),
    "looser (30 days, 2 incidents, CI or signature)": Rules(period_s=30 * 86400, min_incidents=2),
    "signature only (14 days, 3 incidents)": Rules(by_ci=False),
}


def score(found: list[Suggestion], groups: dict[str, set[int]]) -> dict[str, Any]:
    """How the suggestions line up with the real problem groups."""
    problem_of = {i: p for p, members in groups.items() for i in members}
    multi = {p: m for p, m in groups.items() if len(m) >= 2}
    recovered, fully, matching = set(), set(), 0
    touched = set()
    for item in found:
        counts = Counter(problem_of[i] for i in item.incident_ids if i in problem_of)
        touched |= set(counts)
        hits = {p for p, n in counts.items() if n >= 2}
        if hits:
            matching += 1
        recovered |= hits
        fully |= {p for p in hits if multi[p] <= set(item.incident_ids)}
    sizes = [len(s.incident_ids) for s in found]
    return {
        "suggestions": len(found),
        "incidents_in_suggestions": sum(sizes),
        "median_size": sorted(sizes)[len(sizes) // 2] if sizes else 0,
        "groups_recovered": len(recovered),
        "groups_fully_recovered": len(fully),
        "groups_with_2plus": len(multi),
        "groups_touched_any_size": len(touched),
        "suggestions_matching_a_real_problem": matching,
        "suggestions_matching_no_real_problem": len(found) - matching,
    }


def measure(db: Database) -> dict[str, Any]:
    """Every variant's score on the imported incidents."""
    with db.session() as session:
        incidents = incident_service.incidents_opened_between(session)
        facts = [problem_service.facts_of(i) for i in incidents]
        refs = incident_service.references_of_kind(session, kind="servicenow.problem")
    groups: dict[str, set[int]] = defaultdict(set)
    for incident_id, ref in refs:
        groups[ref].add(incident_id)
    result: dict[str, Any] = {
        "incidents": len(facts),
        "real_problems": len(groups),
        "linked_incidents": sum(len(m) for m in groups.values()),
        "variants": {},
    }
    for name, rules in VARIANTS.items():
        began = time.perf_counter()
        found = suggest(facts, rules)
        scored = score(found, groups)
        scored["seconds"] = round(time.perf_counter() - began, 2)
        result["variants"][name] = scored
    return result


def main() -> None:
    """Import if needed, measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", type=Path, help="An SQLite file to (re)use")
    parser.add_argument("--file", type=Path, default=EXPORT)
    args = parser.parse_args()
    path = args.database or Path("/tmp/flywheel-problem-real.db")
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    db = Database(url, Settings(database_url=url, warm_indexes=False))
    load = os.getloadavg()
    began = time.perf_counter()
    with db.session() as session:
        present = incident_service.list_incidents(session, limit=1)
    if not present:
        import_export(db, path=args.file, actor=system_actor("benchmark"), chunk_size=2000)
    imported_s = time.perf_counter() - began
    out = measure(db)
    out |= {
        "import_s": round(imported_s, 1),
        "load_average": [round(x, 2) for x in load],
        "database": str(path),
    }
    db.dispose()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
