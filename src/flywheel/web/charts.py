"""Plotly figures as plain data, drawn in the browser by the plotly.js the package ships (pure)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup

OUTCOME_COLOURS = {
    "succeeded": "#1a7f37",
    "rolled_back": "#9a6700",
    "failed": "#cf222e",
    "aborted": "#57606a",
}
_LAYOUT: dict[str, Any] = {
    "margin": {"l": 48, "r": 16, "t": 8, "b": 40},
    "font": {"family": "system-ui, sans-serif", "size": 13, "color": "#1f2328"},
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    "legend": {"orientation": "h", "y": -0.2},
}


def figure(data: list[dict[str, Any]], **layout: Any) -> dict[str, Any]:
    """A figure with the console's common layout."""
    return {"data": data, "layout": {**_LAYOUT, **layout}}


def as_json(fig: dict[str, Any]) -> Markup:
    """A figure as JSON safe to put inside a <script type="application/json"> element."""
    text = json.dumps(fig, separators=(",", ":"), default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def deployments_per_day(
    finished: list[tuple[datetime, str]], *, today: date, days: int = 30
) -> dict[str, Any]:
    """Deployments finished per day over the last `days`, stacked by outcome."""
    first = today - timedelta(days=days - 1)
    axis = [first + timedelta(days=n) for n in range(days)]
    counts: Counter[tuple[date, str]] = Counter((at.date(), state) for at, state in finished)
    data = [
        {
            "type": "bar",
            "name": state.replace("_", " "),
            "x": [d.isoformat() for d in axis],
            "y": [counts[(d, state)] for d in axis],
            "marker": {"color": colour},
        }
        for state, colour in OUTCOME_COLOURS.items()
    ]
    return figure(
        data,
        barmode="stack",
        height=260,
        yaxis={"title": {"text": "deployments"}, "rangemode": "tozero", "tickformat": ",d"},
        xaxis={"type": "date"},
    )


def risk_contributions(factors: list[tuple[str, float]]) -> dict[str, Any]:
    """How much each factor pushed a change's risk (positive raises it)."""
    ordered = sorted(factors, key=lambda f: abs(f[1]))
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "y": [name for name, _ in ordered],
            "x": [weight for _, weight in ordered],
            "marker": {"color": ["#cf222e" if w > 0 else "#1a7f37" for _, w in ordered]},
            "hovertemplate": "%{y}: %{x:.3f}<extra></extra>",
        }
    ]
    return figure(
        data,
        height=max(140, 34 * len(ordered) + 60),
        margin={"l": 140, "r": 16, "t": 8, "b": 36},
        xaxis={"title": {"text": "contribution to the risk"}, "zeroline": True},
        showlegend=False,
    )


def batch_error_rates(batches: list[dict[str, Any]], max_error_rate: float) -> dict[str, Any]:
    """Error rate of the new instances of each baked batch, next to the old ones and the limit."""
    names = [f"batch {b['index'] + 1}" for b in batches]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": "new version",
            "x": names,
            "y": [b["new_rate"] for b in batches],
            "marker": {"color": "#0969da"},
        },
        {
            "type": "bar",
            "name": "old version",
            "x": names,
            "y": [b["old_rate"] for b in batches],
            "marker": {"color": "#8c959f"},
        },
    ]
    return figure(
        data,
        barmode="group",
        height=240,
        yaxis={"title": {"text": "error rate"}, "tickformat": ".1%", "rangemode": "tozero"},
        shapes=[
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": max_error_rate,
                "y1": max_error_rate,
                "line": {"color": "#cf222e", "dash": "dash", "width": 2},
            }
        ],
    )
