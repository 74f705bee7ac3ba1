"""The token cache: fresh for a few seconds, emptied by a forget, no stale put-back."""

from __future__ import annotations

from flywheel.auth.token_cache import TokenCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_served_until_it_is_stale() -> None:
    clock = Clock()
    cache = TokenCache(seconds=5, clock=clock)
    cache.put("k", "actor", generation=cache.generation)
    clock.now += 4.9
    assert cache.get("k") == "actor"
    clock.now += 0.2
    assert cache.get("k") is None


def test_forget_drops_every_entry() -> None:
    cache = TokenCache(seconds=5, clock=Clock())
    cache.put("a", 1, generation=cache.generation)
    cache.put("b", 2, generation=cache.generation)
    cache.forget()
    assert cache.get("a") is None and cache.get("b") is None


def test_a_lookup_that_began_before_a_forget_is_not_kept() -> None:
    cache = TokenCache(seconds=5, clock=Clock())
    began = cache.generation
    cache.forget()  # a revocation lands while the lookup reads the old row
    cache.put("k", "stale actor", generation=began)
    assert cache.get("k") is None
    cache.put("k", "fresh actor", generation=cache.generation)
    assert cache.get("k") == "fresh actor"
