"""Priority from impact and urgency, without a database."""

from __future__ import annotations

import pytest

from flywheel.incident.severity import HIGH, LOW, MEDIUM, ServiceHit, impact_level, priority


@pytest.mark.parametrize(
    ("services", "tenants", "expected"),
    [
        ([ServiceHit("checkout", "down", 1)], 0, HIGH),
        ([ServiceHit("checkout", "degraded", 1)], 0, MEDIUM),
        ([ServiceHit("blog", "down", 4)], 0, MEDIUM),
        ([ServiceHit("blog", "degraded", 4)], 0, LOW),
        ([ServiceHit("blog", "degraded", 4)], 3, MEDIUM),
        ([ServiceHit("blog", "degraded", 4)], 1000, HIGH),
        ([], 0, LOW),
    ],
)
def test_impact_level(services: list[ServiceHit], tenants: int, expected: int) -> None:
    assert impact_level(services, tenants) == expected


def test_priority_matrix() -> None:
    table = [[priority(i, u) for u in (HIGH, MEDIUM, LOW)] for i in (HIGH, MEDIUM, LOW)]
    assert table == [[1, 2, 3], [2, 3, 4], [3, 4, 4]]
