"""What a ServiceNow export shows: SLA, time to resolve and acknowledge, reopens (pure)."""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import fmean, median
from typing import Any

from flywheel.incident.servicenow import Reading

SKIPPED_SHOWN = 20


def _hours(values: list[float]) -> dict[str, float | int]:
    return {
        "incidents": len(values),
        "mean": round(fmean(values), 2),
        "median": round(median(values), 2),
    }


def summarize(reading: Reading) -> dict[str, Any]:
    """Figures over the incidents read, and the rows that were skipped and why."""
    incidents = [i.fields for i in reading.incidents]
    to_resolve: dict[str, list[float]] = defaultdict(list)
    to_acknowledge: dict[str, list[float]] = defaultdict(list)
    for f in incidents:
        label = f"P{f['priority']}"
        if f["resolved_at"] is not None:
            to_resolve[label].append((f["resolved_at"] - f["opened_at"]).total_seconds() / 3600)
        if f["acknowledged_at"] is not None:
            delay = (f["acknowledged_at"] - f["opened_at"]).total_seconds() / 3600
            to_acknowledge[label].append(max(0.0, delay))
    mttr = {p: _hours(v) for p, v in sorted(to_resolve.items())}
    met = [f["sla_met"] for f in incidents]
    reopened = [f for f in incidents if f["reopen_count"] > 0]
    reasons = Counter(s.reason for s in reading.skipped)
    return {
        "skipped_rows": {
            "count": len(reading.skipped),
            "by_reason": dict(reasons.most_common()),
            "rows": [
                {"line": s.line, "number": s.number, "reason": s.reason}
                for s in reading.skipped[:SKIPPED_SHOWN]
            ],
        },
        "sla_met_fraction": round(sum(met) / len(met), 4) if met else None,
        "sla_met_fraction_by_priority": _fraction_by_priority(incidents, "sla_met"),
        "mttr_hours_by_priority": {p: v["mean"] for p, v in mttr.items()},
        "mttr_hours_detail": mttr,
        "mtta_hours_by_priority": {p: _hours(v) for p, v in sorted(to_acknowledge.items())},
        "reopened_fraction": round(len(reopened) / len(incidents), 4) if incidents else None,
        "incidents_by_priority": dict(
            sorted(Counter(f"P{f['priority']}" for f in incidents).items())
        ),
        "never_resolved": sum(1 for f in incidents if f["resolved_at"] is None),
        "oddities": dict(reading.oddities.most_common()),
    }


def _fraction_by_priority(incidents: list[dict[str, Any]], key: str) -> dict[str, float]:
    seen: dict[str, list[bool]] = defaultdict(list)
    for f in incidents:
        seen[f"P{f['priority']}"].append(bool(f[key]))
    return {p: round(sum(v) / len(v), 4) for p, v in sorted(seen.items())}
