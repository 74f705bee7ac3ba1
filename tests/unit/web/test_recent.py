"""Overview figures kept for a while per database, made again when too old."""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from flywheel.web import recent


def test_a_figure_is_kept_per_database_until_it_is_too_old() -> None:
    made: list[str] = []

    def make(label: str) -> str:
        made.append(label)
        return label

    first, second = create_engine("sqlite://"), create_engine("sqlite://")
    with Session(first) as one, Session(second) as two:
        assert recent.remembered(one, "x", 60, lambda: make("a")) == "a"
        assert recent.remembered(one, "x", 60, lambda: make("b")) == "a"  # kept
        assert recent.remembered(two, "x", 60, lambda: make("c")) == "c"  # another database
        assert recent.remembered(one, "x", 0, lambda: make("d")) == "d"  # too old
        recent.forget()
        assert recent.remembered(one, "x", 60, lambda: make("e")) == "e"
    assert made == ["a", "c", "d", "e"]
