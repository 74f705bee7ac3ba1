"""Delivery and service-level figures: time-to-delivery, lagging behind, budget burn-down (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flywheel.web.charts import figure

HOUR = 3600.0
PHASE_COLOURS = {
    "development": "#0969da",
    "approval": "#bf8700",
    "queue": "#8250df",
    "rollout": "#1a7f37",
    "verification": "#57606a",
}
PHASE_LABELS = {
    "development": "development",
    "approval": "approval wait",
    "queue": "deploy queue",
    "rollout": "rollout",
    "verification": "verification",
}
LINE_COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a", "#d1242f")


def _unit(weeks: Sequence[tuple[datetime, Mapping[str, float | None]]]) -> tuple[str, float]:
    """Hours, unless every week's changes took under two hours: then minutes."""
    totals = [sum(v or 0.0 for v in means.values()) for _, means in weeks]
    return ("hours", HOUR) if max(totals, default=0.0) >= 2 * HOUR else ("minutes", 60.0)


def _in(seconds: float | None, size: float) -> float | None:
    return None if seconds is None else round(seconds / size, 2)


def time_to_delivery(
    weeks: Sequence[tuple[datetime, Mapping[str, float | None]]],
) -> dict[str, Any]:
    """Mean time spent in each phase by the changes delivered each week, stacked."""
    x = [week.date().isoformat() for week, _ in weeks]
    unit, size = _unit(weeks)
    data = [
        {
            "type": "bar",
            "name": PHASE_LABELS[phase],
            "x": x,
            "y": [_in(means.get(phase), size) for _, means in weeks],
            "marker": {"color": colour},
            "hovertemplate": f"{PHASE_LABELS[phase]}: %{{y:.1f}} {unit}<extra>%{{x}}</extra>",
        }
        for phase, colour in PHASE_COLOURS.items()
    ]
    return figure(
        data,
        barmode="stack",
        height=300,
        yaxis={"title": {"text": f"{unit} (mean per change)"}, "rangemode": "tozero"},
        xaxis={"type": "date"},
    )


def lagging_behind(
    weeks: Sequence[tuple[datetime, int, int, int]],
) -> dict[str, Any]:
    """Changes produced (opened) vs delivered per week, and the queue left at each week's end."""
    x = [week.date().isoformat() for week, *_ in weeks]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": "produced",
            "x": x,
            "y": [opened for _, opened, _, _ in weeks],
            "marker": {"color": "#8c959f"},
        },
        {
            "type": "bar",
            "name": "delivered",
            "x": x,
            "y": [delivered for _, _, delivered, _ in weeks],
            "marker": {"color": "#1a7f37"},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "queue at week's end",
            "x": x,
            "y": [queue for *_, queue in weeks],
            "line": {"color": "#cf222e", "width": 2},
            "yaxis": "y2",
        },
    ]
    return figure(
        data,
        barmode="group",
        height=300,
        yaxis={"title": {"text": "changes per week"}, "rangemode": "tozero", "tickformat": ",d"},
        yaxis2={
            "title": {"text": "queue"},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "tickformat": ",d",
        },
        xaxis={"type": "date"},
        margin={"l": 56, "r": 56, "t": 8, "b": 40},
    )


def budget_burn_down(
    series: Mapping[str, Sequence[tuple[datetime, float | None]]],
) -> dict[str, Any]:
    """Error budget remaining (share of the budget) over time, one line per SLO."""
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name,
            "x": [at.isoformat() for at, _ in points],
            "y": [None if left is None else round(left, 4) for _, left in points],
            "line": {"color": LINE_COLOURS[n % len(LINE_COLOURS)], "width": 2},
            "hovertemplate": "%{y:.1%} left<extra>" + name + "</extra>",
        }
        for n, (name, points) in enumerate(series.items())
    ]
    return figure(
        data,
        height=260,
        yaxis={"title": {"text": "error budget left"}, "tickformat": ".0%", "zeroline": True},
        xaxis={"type": "date"},
        shapes=[
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": 0,
                "y1": 0,
                "line": {"color": "#cf222e", "dash": "dash", "width": 2},
            }
        ],
    )
