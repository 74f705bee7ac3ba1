"""The tenant availability report as JSON data, CSV and a printable HTML page (pure)."""

from __future__ import annotations

import csv
import html
import io

from flywheel.slo.schemas import TenantAvailabilityOut, TenantCostOut, TenantMonthOut
from flywheel.slo.tenants import SLICE_S, TenantMonth, TenantReport


def _status(month: TenantMonth, objective: float | None) -> str:
    availability = month.availability
    if availability is None:
        return "no data"
    if objective is None:
        return "measured"
    return "met" if availability >= objective else "missed"


def report_out(report: TenantReport) -> TenantAvailabilityOut:
    """The JSON view."""
    months = []
    for m in report.months:
        minutes = m.counts.total * SLICE_S / 60
        months.append(
            TenantMonthOut(
                month=m.month.start.strftime("%Y-%m"),
                start=m.month.start,
                end=m.month.end,
                status=_status(m, report.objective),
                availability=m.availability,
                downtime_minutes=None if not m.counts.has_data else m.counts.bad * SLICE_S / 60,
                minutes=minutes,
                incidents=[
                    TenantCostOut(cause=c.cause, service=c.service, minutes=c.minutes)
                    for c in m.costs
                ],
            )
        )
    return TenantAvailabilityOut(
        tenant=report.tenant,
        name=report.name,
        services=report.services,
        objective=report.objective,
        months=months,
        note=report.note,
    )


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def as_csv(out: TenantAvailabilityOut) -> str:
    """One row per month: availability, downtime, objective, status, incidents."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "tenant",
            "month",
            "availability_percent",
            "downtime_minutes",
            "objective_percent",
            "status",
            "incidents",
        ]
    )
    for m in out.months:
        incidents = "; ".join(f"{c.cause} on {c.service}: {c.minutes:g} min" for c in m.incidents)
        downtime = "" if m.downtime_minutes is None else f"{m.downtime_minutes:g}"
        objective = "" if out.objective is None else f"{out.objective:g}"
        writer.writerow(
            [
                out.tenant,
                m.month,
                _percent(m.availability),
                downtime,
                objective,
                m.status,
                incidents,
            ]
        )
    return buffer.getvalue()


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; }
th, td { border: 1px solid #bbb; padding: .35em .6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.missed { color: #a00; font-weight: bold; }
@media print { body { margin: 0; } }
"""


def as_html(out: TenantAvailabilityOut) -> str:
    """A self-contained page to print or save as PDF."""
    e = html.escape
    objective = "none set" if out.objective is None else f"{out.objective:g} %"
    rows = []
    for m in out.months:
        incidents = (
            "<br>".join(f"{e(c.cause)} on {e(c.service)}: {c.minutes:g} min" for c in m.incidents)
            or "&mdash;"
        )
        value = "no data" if m.availability is None else f"{m.availability:.4f} %"
        downtime = "&mdash;" if m.downtime_minutes is None else f"{m.downtime_minutes:g} min"
        rows.append(
            f'<tr class="{e(m.status)}"><td>{e(m.month)}</td><td>{value}</td>'
            f"<td>{downtime}</td><td>{e(m.status)}</td><td>{incidents}</td></tr>"
        )
    note = f"<p><em>{e(out.note)}</em></p>" if out.note else ""
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>Availability of {e(out.name)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Availability of {e(out.name)} ({e(out.tenant)})</h1>"
        f"<p>Services used: {e(', '.join(out.services)) or 'none'}. "
        f"Objective: {objective}. Measured in one-minute slices, UTC months; a minute is "
        "down when any service the tenant uses was down.</p>"
        f"{note}<table><thead><tr><th>month</th><th>availability</th><th>downtime</th>"
        "<th>status</th><th>incidents</th></tr></thead><tbody>"
        f"{''.join(rows)}</tbody></table></body></html>"
    )
