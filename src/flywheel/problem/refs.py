"""References people type (pure): 42, INC0000042, PRB0000042, KE0000042, CHG0000042."""

from __future__ import annotations

import re

from flywheel.errors import InvalidInput

_PREFIXES = {"incident": "INC", "problem": "PRB", "known error": "KE", "change": "CHG"}
PROBLEM_NUMBER = re.compile(r"\bPRB(\d{7})\b", re.IGNORECASE)


def parse(text: str, what: str) -> int:
    """The id in '42' or '<PREFIX>0000042' for `what`; InvalidInput naming the problem."""
    prefix = _PREFIXES[what]
    found = re.fullmatch(rf"(?:{prefix})?0*(\d+)", text.strip(), re.IGNORECASE)
    if found is None or int(found.group(1)) == 0:
        raise InvalidInput(f"'{text}' is not a {what} reference (e.g. 42 or {prefix}0000042)")
    return int(found.group(1))


def problem_numbers_in(text: str | None) -> set[int]:
    """Ids of the problems a free text (title, description, commit message) mentions."""
    return {int(m.group(1)) for m in PROBLEM_NUMBER.finditer(text or "")}
