"""Reading and applying a pool's min_up."""

from __future__ import annotations

import pytest

from flywheel.cmdb.graph import MinUp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4", MinUp(count=4)),
        (4, MinUp(count=4)),
        (" 4 ", MinUp(count=4)),
        ("0", MinUp(count=0)),
        ("66%", MinUp(percent=66)),
        ("12.5 %", MinUp(percent=12.5)),
        ("100%", MinUp(percent=100)),
        ("0%", MinUp(percent=0)),
        (None, None),
        ("", None),
    ],
)
def test_valid_min_up(text: str | int | None, expected: MinUp | None) -> None:
    assert MinUp.parse(text) == expected


@pytest.mark.parametrize("text", ["-1", -1, "101%", "-5%", "abc", "4.5", "%", "nan%", "4%%", True])
def test_invalid_min_up(text: str | int) -> None:
    with pytest.raises(ValueError, match="min_up"):
        MinUp.parse(text)


@pytest.mark.parametrize(
    ("min_up", "members", "required"),
    [
        (MinUp(count=4), 6, 4),
        (MinUp(percent=66), 6, 4),
        (MinUp(percent=50), 6, 3),
        (MinUp(percent=70), 10, 7),
        (MinUp(percent=33.3), 3, 1),
        (MinUp(percent=100), 7, 7),
        (MinUp(percent=0), 7, 0),
        (MinUp(percent=50), 0, 0),
    ],
)
def test_required_members(min_up: MinUp, members: int, required: int) -> None:
    assert min_up.required(members) == required


def test_min_up_needs_exactly_one_form() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        MinUp()
    with pytest.raises(ValueError, match="exactly one"):
        MinUp(count=1, percent=50)


def test_min_up_prints_as_it_is_written() -> None:
    assert [str(MinUp.parse(t)) for t in ("4", "66%", "12.5%")] == ["4", "66%", "12.5%"]
