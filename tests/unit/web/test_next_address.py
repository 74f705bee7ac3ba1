"""Where the sign-in form may send a browser afterwards."""

from __future__ import annotations

from flywheel.web.pages.auth import safe_next


def test_only_local_paths_are_followed() -> None:
    assert safe_next("/changes?state=authorize") == "/changes?state=authorize"
    for unsafe in ("//evil.example", "https://evil.example", "/\\evil.example", "", "changes"):
        assert safe_next(unsafe) == "/", unsafe
