"""The problem page's pure parts: durations in words and which actions a state offers."""

from __future__ import annotations

from flywheel.problem.lifecycle import ProblemState as S
from flywheel.problem.lifecycle import Resolution
from flywheel.problem.models import Delivery
from flywheel.web.pages.problem_page import (
    allowed_actions,
    delivery_words,
    duration_words,
    resolutions_for,
)


def test_durations_read_as_people_say_them() -> None:
    assert duration_words(None) is None
    assert duration_words(20) == "0 min"
    assert duration_words(45 * 60) == "45 min"
    assert duration_words(3 * 3600 + 20 * 60) == "3 h 20 min"
    assert duration_words(7200) == "2 h"
    assert duration_words(2 * 86400 + 4 * 3600 + 59) == "2 d 4 h"


def test_actions_follow_state_category_and_role() -> None:
    assert allowed_actions(S.NEW, None, may_manage=False) == set()
    assert allowed_actions(S.NEW, None, may_manage=True) == {"investigate", "rca", "close"}
    assert "route" not in allowed_actions(S.INVESTIGATING, None, may_manage=True)
    assert "route" in allowed_actions(S.KNOWN_ERROR, "software", may_manage=True)
    assert allowed_actions(S.CLOSED, "software", may_manage=True) == {"investigate"}


def test_backlog_delivery_in_words() -> None:
    def sent(state: str, attempts: int, error: str | None = None) -> str:
        row = Delivery(tracker="shop", state=state, attempts=attempts, last_error=error)
        return delivery_words(row)

    assert sent("pending", 0) == "backlog item pending to shop (not sent yet)"
    assert sent("pending", 2, "HTTP 503") == (
        "backlog item pending to shop after 2 attempt(s); last error: HTTP 503"
    )
    assert sent("delivered", 1) == "backlog item delivered to shop"


def test_the_close_form_offers_only_resolutions_the_state_allows() -> None:
    assert resolutions_for(S.RESOLVED) == [Resolution.FIXED]
    assert Resolution.FIXED not in resolutions_for(S.KNOWN_ERROR)
    assert Resolution.RISK_ACCEPTED in resolutions_for(S.NEW)
