"""Chart figures: plain data for plotly.js, safe inside a script element."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from flywheel.web import charts


def test_deployments_per_day_counts_each_outcome() -> None:
    finished = [
        (datetime(2026, 3, 10, 9, tzinfo=UTC), "succeeded"),
        (datetime(2026, 3, 10, 17, tzinfo=UTC), "succeeded"),
        (datetime(2026, 3, 9, 9, tzinfo=UTC), "rolled_back"),
    ]
    fig = charts.deployments_per_day(finished, today=date(2026, 3, 10), days=3)
    by_name = {trace["name"]: trace["y"] for trace in fig["data"]}
    assert by_name["succeeded"] == [0, 0, 2] and by_name["rolled back"] == [0, 1, 0]
    assert fig["data"][0]["x"] == ["2026-03-08", "2026-03-09", "2026-03-10"]


def test_json_cannot_close_the_script_element() -> None:
    fig = charts.risk_contributions([("</script><b>x", 0.2), ("files", -0.1)])
    text = str(charts.as_json(fig))
    assert "</script>" not in text and "<" not in text
    assert json.loads(text)["data"][0]["y"] == ["files", "</script><b>x"]
